"""The "test call" echo bot: an in-process participant that answers and echoes media.

A user checks their camera, microphone and network without a second person: the app
opens the user's direct room with the Echo account (`POST /api/test-call`) and calls it
like anyone else (docs/api/calls.md). The bot is a virtual device registered in the hub,
so it hears `rtc.ring`, `rtc.call` and `rtc.signal` like a browser tab; it joins, offers
an aiortc peer connection and sends every received audio and video track back.

- ``account``: the Echo account and each user's direct room with it.
- ``device``: the virtual device (a hub connection without a socket).
- ``media``: aiortc helpers: the forwarding track, ICE configuration, candidates.
- ``session``: one echo call (a peer connection per remote device).
- ``bot``: frames in, sessions, limits, and the app's start and stop.
"""
