// Whether a message that just arrived notifies the signed-in person, by the same rule as the
// server (policy.ts) with her synced settings. Whether to show anything at all (permission,
// the tab's visibility, the browser's on/off switch) is the caller's: useNotifications.ts.
import type { Message } from '@/api/types'
import { useNotifySettingsStore } from '@/stores/notifySettings'
import { useRoomsStore } from '@/stores/rooms'
import { useSessionStore } from '@/stores/session'
import { useUsersStore } from '@/stores/users'
import { mentionsUser } from '@/sync/reducer'
import { shouldNotify } from './policy'

/** Her time zone as the server knows it (her profile), else this browser's. */
function timezoneOf(profileZone: string | null | undefined): string | null {
  if (profileZone) return profileZone
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || null
  } catch {
    return null
  }
}

export function notifyDecision(message: Message): boolean {
  const session = useSessionStore()
  const me = session.userId
  const room = useRoomsStore().byId[message.room]
  if (me === null || !room || message.deleted) return false
  const facts = {
    room_id: room.id,
    room_kind: room.kind,
    author_id: message.author,
    body: message.body,
    mentions_reader: mentionsUser(message, me),
  }
  const timezone = timezoneOf(useUsersStore().byId[me]?.timezone ?? session.user?.timezone)
  return shouldNotify(useNotifySettingsStore().effective, facts, { readerId: me, nowMs: Date.now(), timezone })
}
