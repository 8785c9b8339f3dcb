"""Real-time communication: the STUN codec and the built-in STUN/TURN server.

Layers, bottom up (nothing here imports ``appliance.web``, ``chat`` or ``storage``):

- ``stun_attributes``, ``stun``: the pure STUN wire codec (RFC 8489).
- ``datapath``: ChannelData framing and the Send/Data indication fast paths (RFC 8656).
- ``credentials``: TURN REST credentials, long-term keys, nonces, the secret file.
- ``policy``: which peers a client may relay to (one function for every check).
- ``allocation``: allocation state keyed by 5-tuple, with the clock passed in.
- ``allocate``: the Allocate request checks (RFC 8656 §7.2) and the relay provider API.
- ``turn``: the one request handler that turns client frames into state changes.
- ``relay``, ``server``: UDP relay sockets and the UDP/TCP listeners (``TurnServer``).
- ``cli``: ``pychat turn`` / ``python -m appliance.rtc``.
"""
