/* Pychat service worker: written by hand; the build fills in the two placeholders.
 * - precaches the app shell and every built file of this version;
 * - answers navigations with the cached index.html (the app routes itself), so the app
 *   opens with no network at all;
 * - never touches /api/ (live data goes through the socket and IndexedDB);
 * - caches fonts under /assets/ (hashed, so never stale) the first time a page needs one,
 *   in a cache kept across versions: offline still draws every emoji already seen;
 * - waits for the page to say SKIP_WAITING, so an update is never forced mid-sentence;
 * - shows notifications (Android Chrome has no `new Notification()` in a page): the app's,
 *   and Web Push payloads when no tab is open; one per room (tag), replaced with a new sound;
 *   "Reply" and "Mark as read" go to the HTTP API with the session cookie; a click opens the
 *   room or thread in a window of the app. Payload: docs/api.md, "Web Push". */
const VERSION = '__BUILD_VERSION__'
const PRECACHE = '__PRECACHE_URLS__'
const CACHE = `pychat-${VERSION}`
const SHELL = '/'
const FONTS = 'pychat-fonts'
const FONT_FILE = /^\/assets\/.+\.(woff2?|ttf)$/

self.addEventListener('install', (event) => {
  event.waitUntil(
    caches.open(CACHE).then((cache) =>
      cache.addAll(PRECACHE.map((url) => new Request(url, { cache: 'reload' }))),
    ),
  )
})

self.addEventListener('activate', (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((names) =>
        Promise.all(
          names.filter((n) => n.startsWith('pychat-') && n !== CACHE && n !== FONTS).map((n) => caches.delete(n)),
        ),
      )
      .then(() => self.clients.claim()),
  )
})

self.addEventListener('message', (event) => {
  if (event.data && event.data.type === 'SKIP_WAITING') self.skipWaiting()
  if (event.data && event.data.type === 'VERSION') event.source?.postMessage({ type: 'VERSION', version: VERSION })
})

// Pages the server makes itself (the wizard, the trust page, the CA download) are never
// the app shell.
const SERVER_PAGES = ['/api/', '/setup', '/trust', '/ca.crt']

function isAppNavigation(request, url) {
  return request.mode === 'navigate' && !SERVER_PAGES.some((prefix) => url.pathname.startsWith(prefix))
}

self.addEventListener('fetch', (event) => {
  const request = event.request
  if (request.method !== 'GET') return
  const url = new URL(request.url)
  if (url.origin !== self.location.origin || url.pathname.startsWith('/api/')) return
  if (isAppNavigation(request, url)) {
    event.respondWith(
      caches.match(SHELL, { cacheName: CACHE }).then((cached) => cached || fetch(request)),
    )
    return
  }
  if (FONT_FILE.test(url.pathname)) {
    event.respondWith(
      caches.open(FONTS).then((cache) =>
        cache.match(request).then(
          (cached) =>
            cached ||
            fetch(request).then((response) => {
              if (response.ok) void cache.put(request, response.clone())
              return response
            }),
        ),
      ),
    )
    return
  }
  event.respondWith(
    caches.match(request, { cacheName: CACHE, ignoreSearch: true }).then((cached) => cached || fetch(request)),
  )
})

// ---- Notifications ----------------------------------------------------------------------
const ICON = '/icons/icon-192.png'
const BADGE = '/icons/favicon-32.png'

/** The options of a room's notification; the page builds the same (src/notifications/show.ts). */
function notificationOptions(p, renotify = true) {
  return {
    body: p.body || '',
    tag: p.tag || `room-${p.room}`,
    renotify, // a new message replaces the room's notification and is heard again
    icon: ICON,
    badge: BADGE,
    timestamp: Date.now(),
    data: { room: p.room, thread: p.thread ?? null, message: p.message, url: p.url || `/rooms/${p.room}` },
    actions: [
      // Platforms without inline replies show a button: clicking it opens the room instead.
      { action: 'reply', type: 'text', title: 'Reply', placeholder: 'Reply…' },
      { action: 'read', title: 'Mark as read' },
    ],
  }
}

async function setBadge(unread) {
  if (typeof unread !== 'number' || !('setAppBadge' in self.navigator)) return
  try {
    if (unread > 0) await self.navigator.setAppBadge(unread)
    else await self.navigator.clearAppBadge()
  } catch {
    /* not installed as an app, or no badge here */
  }
}

async function closeTag(tag) {
  const shown = await self.registration.getNotifications({ tag })
  for (const n of shown) n.close()
}

function readPayload(event) {
  if (!event.data) return null
  try {
    const p = event.data.json()
    return p && p.v === 1 && Number.isInteger(p.room) ? p : null
  } catch {
    return null
  }
}

self.addEventListener('push', (event) => {
  const p = readPayload(event)
  if (!p) return
  if (p.kind === 'read') {
    event.waitUntil(Promise.all([closeTag(p.tag || `room-${p.room}`), setBadge(p.unread)]))
    return
  }
  if (p.kind !== 'message') return
  event.waitUntil(Promise.all([showPushed(p), setBadge(p.unread)]))
})

/** A hidden tab may already show this very message: then it is replaced without a second sound. */
async function showPushed(p) {
  const tag = p.tag || `room-${p.room}`
  const shown = await self.registration.getNotifications({ tag })
  const again = shown.some((n) => n.data && n.data.message === p.message)
  await self.registration.showNotification(p.title || 'Pychat', notificationOptions(p, !again))
}

async function post(path, body) {
  const response = await fetch(path, {
    method: 'POST',
    credentials: 'same-origin', // the session cookie
    headers: body === undefined ? {} : { 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  })
  if (!response.ok) throw new Error(`${path}: ${response.status}`)
  return response.json()
}

/** Focus a window of the app and route it (it listens for 'notification-click'), or open one. */
async function openApp(url) {
  const all = await self.clients.matchAll({ type: 'window', includeUncontrolled: true })
  // The server's own pages (the wizard, /trust) are no window of the app: they cannot route.
  const windows = all.filter((w) => !SERVER_PAGES.some((prefix) => new URL(w.url).pathname.startsWith(prefix)))
  const win = windows.find((w) => w.focused) || windows.find((w) => w.visibilityState === 'visible') || windows[0]
  if (!win) {
    await self.clients.openWindow(url)
    return
  }
  win.postMessage({ type: 'notification-click', url })
  try {
    await win.focus()
  } catch {
    /* focusing needs the click's user activation; the window is routed anyway */
  }
}

async function reply(data, text) {
  const body = { body: text, client_id: `sw-${data.message}-${crypto.randomUUID()}` }
  // A reply to a thread's message goes into that thread.
  if (data.thread) body.thread = data.thread
  try {
    await post(`/api/rooms/${data.room}/messages`, body)
    await post(`/api/messages/${data.message}/read`) // answering is having read it
  } catch {
    await openApp(data.url) // signed out, offline or refused: the app says why
  }
}

async function markRead(data) {
  try {
    await post(`/api/messages/${data.message}/read`)
  } catch {
    await openApp(data.url)
  }
}

self.addEventListener('notificationclick', (event) => {
  const notification = event.notification
  const data = notification.data || {}
  notification.close()
  if (!Number.isInteger(data.room)) {
    event.waitUntil(openApp('/'))
  } else if (event.action === 'read') {
    event.waitUntil(markRead(data))
  } else if (event.action === 'reply' && event.reply) {
    event.waitUntil(reply(data, event.reply))
  } else {
    event.waitUntil(openApp(data.url || `/rooms/${data.room}`))
  }
})
