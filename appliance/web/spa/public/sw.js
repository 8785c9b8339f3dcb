/* Pychat service worker: written by hand; the build fills in the two placeholders.
 * - precaches the app shell and every built file of this version;
 * - answers navigations with the cached index.html (the app routes itself), so the app
 *   opens with no network at all;
 * - never touches /api/ (live data goes through the socket and IndexedDB);
 * - caches fonts under /assets/ (hashed, so never stale) the first time a page needs one,
 *   in a cache kept across versions: offline still draws every emoji already seen;
 * - waits for the page to say SKIP_WAITING, so an update is never forced mid-sentence. */
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
