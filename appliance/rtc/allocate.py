"""Allocate requests (RFC 8656 §7.2) and the relay provider they draw on."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Protocol

from . import stun
from .allocation import Address, Allocation, AllocationTable, ClientLink, Relay
from .credentials import Credential
from .limits import DEFAULT_LIFETIME_S, TokenBucket, TurnLimits
from .stun import Attr, Message, MsgClass
from .stun_attributes import FAMILY_IPV6, TRANSPORT_UDP, AddressErrorCode

log = logging.getLogger(__name__)

PeerDataCallback = Callable[[Allocation, bytes, Address], None]


class RelayUnavailable(Exception):
    """No relayed transport address could be had (→ 508 Insufficient Capacity)."""


class OpenRelay(Relay, Protocol):
    def start(self, on_datagram: Callable[[bytes, Address], None]) -> None: ...


class RelayProvider(Protocol):
    family: int
    supports_dont_fragment: bool

    def open(self, *, even_port: bool, dont_fragment: bool) -> OpenRelay: ...


def lifetime_for(requested: int | None, maximum: int) -> int:
    """RFC 8656 §7.2 and §8.2: "the minimum of the client's requested lifetime and the
    server's maximum allowed lifetime. If this computed value is greater than the default
    lifetime, then [it is used] ... Otherwise, the default lifetime." Absent: the default.
    (A requested lifetime of zero on Refresh is handled by the caller.)"""
    if requested is None:
        return DEFAULT_LIFETIME_S
    return max(min(requested, maximum), DEFAULT_LIFETIME_S)


class Allocator:
    """Creates allocations: checks the request, opens a relay, records the state."""

    def __init__(
        self,
        *,
        table: AllocationTable,
        relays: RelayProvider,
        limits: TurnLimits,
        clock: Callable[[], float],
        on_peer_data: PeerDataCallback,
    ) -> None:
        self._table = table
        self._relays = relays
        self._limits = limits
        self._clock = clock
        self._on_peer_data = on_peer_data

    def allocate(self, msg: Message, link: ClientLink, cred: Credential) -> Message:
        """Steps 2-10 of RFC 8656 §7.2 (step 1, authentication, is done by the caller)."""
        now = self._clock()
        five_tuple = link.five_tuple
        existing = self._table.get(five_tuple, now)
        # Step 2: "The server checks if the 5-tuple is currently in use by an existing
        # allocation. If yes, the server rejects the request with a 437". A retransmission
        # (same transaction id, same user) gets the same success response again
        # (RFC 8656 §5: "treat the request as idempotent").
        if existing is not None:
            same_user = existing.credential.username == cred.username
            if same_user and existing.transaction_id == msg.transaction_id:
                return self.success(msg, existing, now)
            return stun.error_response(msg, 437)
        # Step 3: no or malformed REQUESTED-TRANSPORT → 400; unsupported protocol → 442
        # (only UDP relays: RFC 6062 TCP allocations are refused).
        transport = msg.get_int(Attr.REQUESTED_TRANSPORT)
        if transport is None:
            return stun.error_response(msg, 400)
        if transport != TRANSPORT_UDP:
            return stun.error_response(msg, 442)
        # Step 4: DONT-FRAGMENT we cannot honour is an unknown comprehension-required one.
        dont_fragment = msg.has(Attr.DONT_FRAGMENT)
        if dont_fragment and not self._relays.supports_dont_fragment:
            return _unknown_attribute(msg, Attr.DONT_FRAGMENT)
        requested = msg.get_int(Attr.REQUESTED_ADDRESS_FAMILY)
        additional = msg.get_int(Attr.ADDITIONAL_ADDRESS_FAMILY)
        even_port = msg.get_int(Attr.EVEN_PORT)
        # Step 5: RESERVATION-TOKEN with EVEN-PORT or an address family → 400; otherwise
        # the token must be valid → 508. This server never hands out tokens.
        if msg.has(Attr.RESERVATION_TOKEN):
            if even_port is not None or requested is not None or additional is not None:
                return stun.error_response(msg, 400)
            return stun.error_response(msg, 508)
        # Step 6: both REQUESTED-ADDRESS-FAMILY and ADDITIONAL-ADDRESS-FAMILY → 400.
        if requested is not None and additional is not None:
            return stun.error_response(msg, 400)
        # Step 7: an address family the server does not relay → 440.
        family = self._relays.family
        if requested is not None and requested != family:
            return stun.error_response(msg, 440)
        reserve = even_port is not None and bool(even_port & 0x80)
        # Step 8: EVEN-PORT with R=1 and ADDITIONAL-ADDRESS-FAMILY → 400; a reservation
        # the server cannot satisfy → 508 (no reservations here).
        if reserve and additional is not None:
            return stun.error_response(msg, 400)
        if reserve:
            return stun.error_response(msg, 508)
        # Step 9: ADDITIONAL-ADDRESS-FAMILY of IPv4 → 400; a partial dual allocation
        # carries ADDRESS-ERROR-CODE 440 in the success response.
        if additional is not None and additional != FAMILY_IPV6:
            return stun.error_response(msg, 400)
        # Step 10: "reject the request with a 486 (Allocation Quota Reached) error if ...
        # the client is trying to exceed some locally defined allocation quota".
        quota = self._table.quota_error(cred.user)
        if quota is not None:
            log.info("TURN allocation refused for %s: %d", cred.user, quota)
            return stun.error_response(msg, quota)
        try:
            relay = self._relays.open(even_port=even_port is not None, dont_fragment=dont_fragment)
        except RelayUnavailable:
            return stun.error_response(msg, 508)
        alloc = Allocation(
            five_tuple=five_tuple,
            credential=cred,
            link=link,
            relay=relay,
            transaction_id=msg.transaction_id,
            expires=now + lifetime_for(msg.get_int(Attr.LIFETIME), self._limits.max_lifetime_s),
            bucket=TokenBucket(
                self._limits.bytes_per_second,
                self._limits.packets_per_second,
                self._limits.burst_seconds,
                now,
            ),
            family=family,
            dont_fragment=dont_fragment,
        )
        self._table.add(alloc)
        relay.start(lambda data, peer: self._on_peer_data(alloc, data, peer))
        log.info("TURN allocation %s for %s via %s", relay.address, cred.user, five_tuple)
        reply = self.success(msg, alloc, now)
        if additional is not None:
            reply.add(
                Attr.ADDRESS_ERROR_CODE,
                AddressErrorCode(additional, 440, stun.REASONS[440]),
            )
        return reply

    def success(self, msg: Message, alloc: Allocation, now: float) -> Message:
        reply = stun.response_to(msg, MsgClass.SUCCESS)
        reply.add(Attr.XOR_RELAYED_ADDRESS, alloc.relay.address)
        reply.add(Attr.LIFETIME, max(0, int(alloc.expires - now)))
        reply.add(Attr.XOR_MAPPED_ADDRESS, alloc.five_tuple.client)
        return reply


def _unknown_attribute(msg: Message, attr: int) -> Message:
    reply = stun.error_response(msg, 420)
    reply.add(Attr.UNKNOWN_ATTRIBUTES, (attr,))
    return reply
