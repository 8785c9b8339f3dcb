// Web Push (docs/api.md, "Web Push"): the appliance's key, this device's subscription, and
// the admin's switch.
import { request } from './http'

export interface PushKey {
  enabled: boolean
  /** The appliance's VAPID public key, base64url; null while Web Push is off. */
  key: string | null
}

export interface PushStatus {
  enabled: boolean
  /** Devices subscribed now, all people together. */
  subscriptions: number
  /** Requests to push services since the server started. */
  sent: number
  failed: number
}

export const pushApi = {
  key: () => request<PushKey>('GET', '/api/push/key'),
  save: (subscription: PushSubscriptionJSON) =>
    request<void>('POST', '/api/push/subscriptions', { body: subscription }),
  forget: (endpoint: string) => request<void>('DELETE', '/api/push/subscriptions', { body: { endpoint } }),
  status: () => request<PushStatus>('GET', '/api/admin/push'),
  setEnabled: (enabled: boolean) => request<PushStatus>('PATCH', '/api/admin/push', { body: { enabled } }),
}
