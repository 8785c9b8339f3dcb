// A notification clicked: the service worker focuses a window of the app and tells it where
// to go (public/sw.js, openApp); the app routes itself, keeping its state and socket.
export function onNotificationClick(open: (url: string) => void): () => void {
  if (typeof navigator === 'undefined' || !('serviceWorker' in navigator)) return () => undefined
  const listener = (event: MessageEvent<unknown>): void => {
    const data = event.data as { type?: unknown; url?: unknown } | null
    if (data?.type !== 'notification-click' || typeof data.url !== 'string') return
    if (data.url.startsWith('/') && !data.url.startsWith('//')) open(data.url) // ours only
  }
  navigator.serviceWorker.addEventListener('message', listener)
  return () => navigator.serviceWorker.removeEventListener('message', listener)
}
