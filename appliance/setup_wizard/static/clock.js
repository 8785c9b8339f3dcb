// Tells the device this browser's time. A Pi without internet has no other source of the
// real time: it takes it only while no NTP server has set it, only forward, and only from a
// browser that entered the claim code (docs/operations.md, "The clock").
fetch('/setup/clock', {
  method: 'POST',
  headers: { 'Content-Type': 'application/json' },
  body: JSON.stringify({ now_ms: Date.now() }),
  credentials: 'same-origin',
}).catch(() => {})
