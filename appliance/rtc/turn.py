"""The TURN request handler (RFC 8656 over RFC 8489): one entry point for every frame.

Transports call :meth:`TurnHandler.handle` with a whole STUN message or ChannelData
frame and the :class:`ClientLink` it came on; relays call back with peer datagrams.
Everything here is synchronous: no awaits between a check and the state change.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from . import datapath, stun
from .allocate import Allocator, RelayProvider, lifetime_for
from .allocation import Address, Allocation, AllocationTable, ClientLink, FiveTuple
from .credentials import Credential, NonceIssuer, NonceState
from .limits import SourceLimiter, TurnLimits
from .stun import Attr, Message, Method, MsgClass, StunError
from .stun_attributes import FAMILY_IPV4, FAMILY_IPV6

log = logging.getLogger(__name__)

Clock = Callable[[], float]
PeerFilter = Callable[[str, int], bool]


_SEND_TYPE_BYTES = datapath.SEND_TYPE.to_bytes(2, "big")


class Authenticator(Protocol):
    def lookup(self, username: str, realm: str) -> Credential | None: ...


@dataclass
class Counters:
    relayed_to_peers: int = 0
    relayed_to_clients: int = 0
    dropped: int = 0


class TurnHandler:
    def __init__(
        self,
        realm: str,
        *,
        auth: Authenticator,
        nonces: NonceIssuer,
        peer_filter: PeerFilter,
        relays: RelayProvider,
        clock: Clock,
        limits: TurnLimits | None = None,
    ) -> None:
        self.realm = realm
        self._auth = auth
        self._nonces = nonces
        self._peer_filter = peer_filter
        self._relays = relays
        self._clock = clock
        self.limits = limits or TurnLimits()
        self.table = AllocationTable(self.limits, on_removed=self._removed)
        self._unauthenticated = SourceLimiter(
            self.limits.unauthenticated_per_second, self.limits.unauthenticated_burst
        )
        self.counters = Counters()
        self._allocator = Allocator(
            table=self.table,
            relays=relays,
            limits=self.limits,
            clock=clock,
            on_peer_data=self._from_peer,
        )
        self._methods: dict[int, Callable[[Message, ClientLink, Credential], Message]] = {
            Method.ALLOCATE: self._allocator.allocate,
            Method.REFRESH: self._refresh,
            Method.CREATE_PERMISSION: self._create_permission,
            Method.CHANNEL_BIND: self._channel_bind,
        }

    # -- entry points ------------------------------------------------------------------

    def handle(self, data: bytes, link: ClientLink) -> None:
        """One frame from a client: a STUN message or a ChannelData message."""
        if not data:
            return
        first = data[0]
        if 0x40 <= first <= 0x7F:  # ChannelData (RFC 8656 §12; 0x50-0x7F: RFC 5766)
            self._channel_data(data, link)
            return
        # RFC 8656 §12 Table 3: 0..3 is STUN; "Others: Reserved; MUST be dropped".
        if first > 3:
            return
        try:
            if data[:2] == _SEND_TYPE_BYTES:
                self._send_indication(datapath.decode_send_indication(data), link)
                return
            msg = stun.decode(data)
        except StunError as exc:
            log.debug("dropped malformed STUN from %s: %s", link.five_tuple.client, exc)
            self.counters.dropped += 1
            return
        if msg.cls == MsgClass.REQUEST:
            self._request(msg, link)

    def connection_closed(self, five_tuple: FiveTuple) -> None:
        """A TCP connection ended: its allocation goes with it (RFC 8656 §3.1)."""
        self.table.remove(five_tuple)

    def sweep(self) -> None:
        """Free expired allocations, permissions and channel bindings."""
        self.table.expire(self._clock())

    def close(self) -> None:
        self.table.clear()

    def _removed(self, alloc: Allocation) -> None:
        alloc.relay.close()
        log.info("TURN allocation %s for %s closed", alloc.relay.address, alloc.credential.user)

    # -- requests ----------------------------------------------------------------------

    def _request(self, msg: Message, link: ClientLink) -> None:
        if msg.method == Method.BINDING:
            # RFC 8489 §6.3.1: "If the request contains one or more unknown
            # comprehension-required attributes, the server replies with ... 420".
            if msg.unknown_required:
                self._reply(link, msg, _unknown(msg))
                return
            reply = stun.response_to(msg, MsgClass.SUCCESS)
            reply.add(Attr.XOR_MAPPED_ADDRESS, link.five_tuple.client)
            self._reply(link, msg, reply)
            return
        method = self._methods.get(msg.method)
        if method is None:
            return  # RFC 8489 §6.3: an unsupported method is silently discarded.
        cred = self._authenticate(msg, link)
        if cred is None:
            return
        if msg.unknown_required:
            self._reply(link, msg, _unknown(msg), cred)
            return
        self._reply(link, msg, method(msg, link, cred), cred)

    def _authenticate(self, msg: Message, link: ClientLink) -> Credential | None:
        """RFC 8489 §9.2.4, in the order specified."""
        # "If the message does not contain a MESSAGE-INTEGRITY or MESSAGE-INTEGRITY-SHA256
        # attribute, the server MUST generate an error response with ... 401".
        if msg.integrity_offset is None and msg.integrity_sha256_offset is None:
            self._challenge(link, msg, 401)
            return None
        username = msg.get_str(Attr.USERNAME)
        realm = msg.get_str(Attr.REALM)
        nonce = msg.get_str(Attr.NONCE)
        # "... but is missing either the USERNAME or USERHASH, REALM, or NONCE attribute,
        # the server MUST generate an error response with an error code of 400".
        if (username is None and not msg.has(Attr.USERHASH)) or realm is None or nonce is None:
            self._reply(link, msg, stun.error_response(msg, 400))
            return None
        # "If the value of the USERNAME or USERHASH attribute is not valid ... 401"
        # (an expired or malformed REST username, a USERHASH, or another realm).
        cred = None
        if username is not None and realm == self.realm:
            cred = self._auth.lookup(username, realm)
        if cred is None:
            self._challenge(link, msg, 401)
            return None
        # "If the resulting value does not match the contents of the MESSAGE-INTEGRITY
        # attribute or the MESSAGE-INTEGRITY-SHA256 attribute ... 401".
        if not stun.check_integrity(msg, cred.key):
            self._challenge(link, msg, 401)
            return None
        # "If the NONCE is no longer valid, the server MUST generate an error response
        # with an error code of 438 (Stale Nonce)" with a valid NONCE; it "MAY include a
        # MESSAGE-INTEGRITY" attribute, so it does (aioice drops unsigned errors).
        if self._nonces.check(nonce, link.five_tuple.client) is not NonceState.VALID:
            self._challenge(link, msg, 438, cred)
            return None
        return cred

    def _challenge(
        self, link: ClientLink, msg: Message, code: int, cred: Credential | None = None
    ) -> None:
        reply = stun.error_response(msg, code)
        reply.add(Attr.REALM, self.realm)
        reply.add(Attr.NONCE, self._nonces.issue(link.five_tuple.client))
        self._reply(link, msg, reply, cred)

    def _reply(
        self, link: ClientLink, request: Message, reply: Message, cred: Credential | None = None
    ) -> None:
        """Send ``reply``; a response to an authenticated request carries integrity.
        Unauthenticated answers are rate-limited per source address (then dropped)."""
        if cred is None and not self._unauthenticated.allow(
            link.five_tuple.client[0], self._clock()
        ):
            self.counters.dropped += 1
            return
        data = stun.encode(
            reply,
            key=cred.key if cred is not None else None,
            sha256=request.integrity_sha256_offset is not None,
            fingerprint=request.has_fingerprint,
        )
        link.send(data)

    def _owned(self, msg: Message, link: ClientLink, cred: Credential) -> Allocation | Message:
        """RFC 8656 §5: no allocation on the 5-tuple → 437; "the request does not use the
        same username as used to create the allocation" → 441 (Wrong Credentials)."""
        alloc = self.table.get(link.five_tuple, self._clock())
        if alloc is None:
            return stun.error_response(msg, 437)
        if alloc.credential.username != cred.username:
            return stun.error_response(msg, 441)
        return alloc

    # -- Refresh (RFC 8656 §8.2) -------------------------------------------------------

    def _refresh(self, msg: Message, link: ClientLink, cred: Credential) -> Message:
        alloc = self._owned(msg, link, cred)
        if isinstance(alloc, Message):
            return alloc
        # "a REQUESTED-ADDRESS-FAMILY attribute and the attribute value does not match
        # the address family of the allocation, the server MUST reply with a 443".
        requested = msg.get_int(Attr.REQUESTED_ADDRESS_FAMILY)
        if requested is not None and requested != alloc.family:
            return stun.error_response(msg, 443)
        requested_lifetime = msg.get_int(Attr.LIFETIME)
        reply = stun.response_to(msg, MsgClass.SUCCESS)
        # "If the 'desired lifetime' is zero, then the request succeeds and the allocation
        # is deleted."
        if requested_lifetime == 0:
            self.table.remove(alloc.five_tuple)
            return reply.add(Attr.LIFETIME, 0)
        lifetime = lifetime_for(requested_lifetime, self.limits.max_lifetime_s)
        alloc.expires = self._clock() + lifetime
        return reply.add(Attr.LIFETIME, lifetime)

    # -- CreatePermission (RFC 8656 §10.2) and ChannelBind (§12.2) ---------------------

    def _peer_check(self, msg: Message, alloc: Allocation, peer: Address) -> Message | None:
        # "If an XOR-PEER-ADDRESS attribute contains an address of an address family that
        # is not the same as that of a relayed transport address for the allocation, the
        # server MUST generate an error response with the 443".
        family = FAMILY_IPV6 if ":" in peer[0] else FAMILY_IPV4
        if family != alloc.family:
            return stun.error_response(msg, 443)
        # "The server MAY impose restrictions on the IP address [and port] values allowed
        # in the XOR-PEER-ADDRESS attribute; if a value is not allowed, the server rejects
        # the request with a 403 (Forbidden) error."
        if not self._peer_filter(peer[0], peer[1]):
            log.info("TURN peer %s refused for %s", peer, alloc.credential.user)
            return stun.error_response(msg, 403)
        return None

    def _create_permission(self, msg: Message, link: ClientLink, cred: Credential) -> Message:
        alloc = self._owned(msg, link, cred)
        if isinstance(alloc, Message):
            return alloc
        # "The CreatePermission request MUST contain at least one XOR-PEER-ADDRESS attribute
        # ... If no such attribute exists, or if any of these attributes are invalid, then
        # a 400 (Bad Request) error is returned."
        peers = msg.get_addresses(Attr.XOR_PEER_ADDRESS)
        if not peers:
            return stun.error_response(msg, 400)
        for peer in peers:
            refusal = self._peer_check(msg, alloc, peer)
            if refusal is not None:
                return refusal
        now = self._clock()
        # "If the request is valid, but the server is unable to satisfy the request due to
        # some capacity limit or similar, then a 508 (Insufficient Capacity) error".
        hosts = [host for host, _ in peers]
        if not alloc.permission_room(hosts, now, self.limits.max_permissions_per_allocation):
            return stun.error_response(msg, 508)
        for host in hosts:
            alloc.install_permission(host, now)
        return stun.response_to(msg, MsgClass.SUCCESS)

    def _channel_bind(self, msg: Message, link: ClientLink, cred: Credential) -> Message:
        alloc = self._owned(msg, link, cred)
        if isinstance(alloc, Message):
            return alloc
        number = msg.get_int(Attr.CHANNEL_NUMBER)
        peer = msg.get_address(Attr.XOR_PEER_ADDRESS)
        now = self._clock()
        # "The request contains both a CHANNEL-NUMBER and an XOR-PEER-ADDRESS attribute;
        # the channel number is in the range 0x4000 through 0x4FFF (inclusive)" and is not
        # bound elsewhere: "If any of these tests fail, the server replies with a 400".
        # (Up to 0x7FFF is accepted, as RFC 5766 and coturn do: see datapath.CHANNEL_MAX.)
        if number is None or peer is None:
            return stun.error_response(msg, 400)
        if not datapath.CHANNEL_MIN <= number <= datapath.CHANNEL_MAX:
            return stun.error_response(msg, 400)
        refusal = self._peer_check(msg, alloc, peer)
        if refusal is not None:
            return refusal
        if alloc.channel_conflict(number, peer, now) is not None:
            return stun.error_response(msg, 400)
        # "unable to fulfill the request due to some capacity limit or similar ... 508".
        if not alloc.channel_room(
            number, now, self.limits.max_channels_per_allocation
        ) or not alloc.permission_room([peer[0]], now, self.limits.max_permissions_per_allocation):
            return stun.error_response(msg, 508)
        # "creates or refreshes the channel binding ... also installs or refreshes a
        # permission for the IP address in the XOR-PEER-ADDRESS attribute".
        alloc.bind_channel(number, peer, now)
        return stun.response_to(msg, MsgClass.SUCCESS)

    # -- data (RFC 8656 §11, §12) ------------------------------------------------------

    def _send_indication(self, send: datapath.SendIndication, link: ClientLink) -> None:
        now = self._clock()
        # RFC 8656 §5: no allocation on the 5-tuple → an indication is "silently ignored".
        alloc = self.table.get(link.five_tuple, now)
        if alloc is None:
            return
        # RFC 8489 §6.3.2: an indication with unknown comprehension-required attributes is
        # discarded. RFC 8656 §11.2: it "MUST contain both an XOR-PEER-ADDRESS and DATA".
        peer, data = send.peer, send.data
        if send.unknown_required or peer is None or data is None:
            self.counters.dropped += 1
            return
        # §11.2: DF we cannot set: act as for an unknown comprehension-required attribute;
        # no permission for the peer's IP: discard; the policy is checked on every Send.
        if (
            (send.dont_fragment and not self._relays.supports_dont_fragment)
            or not alloc.has_permission(peer[0], now)
            or not self._peer_filter(peer[0], peer[1])
            or not alloc.bucket.take(len(data), now)
        ):
            self.counters.dropped += 1
            return
        alloc.relay.send(data, peer, dont_fragment=send.dont_fragment)
        self.counters.relayed_to_peers += 1

    def _channel_data(self, data: bytes, link: ClientLink) -> None:
        now = self._clock()
        alloc = self.table.get(link.five_tuple, now)
        if alloc is None:
            return
        try:
            number, payload = datapath.decode_channel_data(data)
        except StunError:
            self.counters.dropped += 1
            return
        # RFC 8656 §12.6: "received on a channel that is not bound to any peer, then the
        # message is silently discarded"; it "MUST NOT refresh" the binding or permission.
        peer = alloc.channel_peer(number, now)
        if peer is None or not alloc.bucket.take(len(payload), now):
            self.counters.dropped += 1
            return
        alloc.relay.send(payload, peer)
        self.counters.relayed_to_peers += 1

    def _from_peer(self, alloc: Allocation, data: bytes, peer: Address) -> None:
        """A datagram on the relayed address (RFC 8656 §11.3, §12.7)."""
        now = self._clock()
        # RFC 8656 §9: "If no match is found, relaying is not permitted and the server
        # silently discards the UDP datagram." Only addresses are compared, not ports.
        if (
            alloc.expires <= now
            or not alloc.has_permission(peer[0], now)
            or not alloc.bucket.take(len(data), now)
        ):
            self.counters.dropped += 1
            return
        number = alloc.peer_channel(peer, now)
        if number is not None:
            frame = datapath.encode_channel_data(number, data, pad=alloc.link.stream)
        else:
            try:
                frame = datapath.encode_data_indication(peer, data)
            except StunError:
                self.counters.dropped += 1
                return
        alloc.link.send(frame)
        self.counters.relayed_to_clients += 1


def _unknown(msg: Message, attrs: tuple[int, ...] | None = None) -> Message:
    listed = attrs if attrs is not None else msg.unknown_required
    log.debug("420 for method 0x%03x: %s", msg.method, ", ".join(f"0x{a:04x}" for a in listed))
    reply = stun.error_response(msg, 420)
    reply.add(Attr.UNKNOWN_ATTRIBUTES, listed)
    return reply
