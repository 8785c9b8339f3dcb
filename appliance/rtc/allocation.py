"""TURN allocation state (RFC 8656 §6, §9, §12): no I/O, time passed in as ``now``.

An allocation is keyed by its 5-tuple and holds the relay, the permissions (peer IP ->
expiry) and the channel bindings (number <-> peer transport address, with expiry).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import NamedTuple, Protocol

from .credentials import Credential
from .limits import (
    CHANNEL_LIFETIME_S,
    CHANNEL_QUARANTINE_S,
    PERMISSION_LIFETIME_S,
    TokenBucket,
    TurnLimits,
)

Address = tuple[str, int]


class FiveTuple(NamedTuple):
    """(client IP, client port, server IP, server port, transport) (RFC 8656 §2)."""

    client_host: str
    client_port: int
    server_host: str
    server_port: int
    protocol: str  # "udp" or "tcp"

    @property
    def client(self) -> Address:
        return self.client_host, self.client_port


class Relay(Protocol):
    """The relayed transport address's socket (see ``relay.py``)."""

    @property
    def address(self) -> Address: ...

    def send(self, data: bytes, peer: Address, *, dont_fragment: bool = False) -> None: ...

    def close(self) -> None: ...


class ClientLink(Protocol):
    """How to reach the client on its 5-tuple (a UDP address or a TCP connection)."""

    @property
    def five_tuple(self) -> FiveTuple: ...

    @property
    def stream(self) -> bool: ...

    def send(self, data: bytes) -> None: ...


@dataclass(slots=True)
class ChannelBinding:
    number: int
    peer: Address
    expires: float


def _reserved(binding: ChannelBinding, now: float) -> bool:
    return binding.expires + CHANNEL_QUARANTINE_S > now


class Allocation:
    """One allocation. Reads take ``now``; nothing here looks at a clock."""

    __slots__ = (
        "bucket",
        "channels",
        "credential",
        "dont_fragment",
        "expires",
        "family",
        "five_tuple",
        "link",
        "peer_channels",
        "permissions",
        "relay",
        "transaction_id",
    )

    def __init__(
        self,
        *,
        five_tuple: FiveTuple,
        credential: Credential,
        link: ClientLink,
        relay: Relay,
        transaction_id: bytes,
        expires: float,
        bucket: TokenBucket,
        family: int,
        dont_fragment: bool = False,
    ) -> None:
        self.five_tuple = five_tuple
        self.credential = credential
        self.link = link
        self.relay = relay
        self.transaction_id = transaction_id
        self.expires = expires
        self.bucket = bucket
        self.family = family
        self.dont_fragment = dont_fragment
        self.permissions: dict[str, float] = {}
        self.channels: dict[int, ChannelBinding] = {}
        self.peer_channels: dict[Address, ChannelBinding] = {}

    # -- permissions (RFC 8656 §9) -----------------------------------------------------

    def has_permission(self, host: str, now: float) -> bool:
        expires = self.permissions.get(host)
        return expires is not None and expires > now

    def permission_room(self, hosts: list[str], now: float, limit: int) -> bool:
        """Would installing ``hosts`` keep the permission count within ``limit``?"""
        active = {h for h, exp in self.permissions.items() if exp > now}
        return len(active | set(hosts)) <= limit

    def install_permission(self, host: str, now: float) -> None:
        # RFC 8656 §9: create it, or reset its time-to-expiry to Permission Lifetime.
        self.permissions[host] = now + PERMISSION_LIFETIME_S

    # -- channels (RFC 8656 §12) -------------------------------------------------------

    def channel_conflict(self, number: int, peer: Address, now: float) -> str | None:
        """RFC 8656 §12.2: the number must not be bound to another transport address,
        nor the address to another number; an expired binding still reserves both for
        5 minutes (§12: "the client MUST wait 5 minutes")."""
        by_number = self.channels.get(number)
        if by_number is not None and _reserved(by_number, now) and by_number.peer != peer:
            return "channel number bound to another peer"
        by_peer = self.peer_channels.get(peer)
        if by_peer is not None and _reserved(by_peer, now) and by_peer.number != number:
            return "peer bound to another channel number"
        return None

    def channel_room(self, number: int, now: float, limit: int) -> bool:
        if number in self.channels:
            return True
        live = sum(1 for b in self.channels.values() if b.expires + CHANNEL_QUARANTINE_S > now)
        return live < limit

    def bind_channel(self, number: int, peer: Address, now: float) -> None:
        """Create or refresh the binding and the permission for the peer's IP."""
        old = self.channels.pop(number, None)
        if old is not None:
            self.peer_channels.pop(old.peer, None)
        stale = self.peer_channels.pop(peer, None)
        if stale is not None:
            self.channels.pop(stale.number, None)
        binding = ChannelBinding(number, peer, now + CHANNEL_LIFETIME_S)
        self.channels[number] = binding
        self.peer_channels[peer] = binding
        self.install_permission(peer[0], now)

    def channel_peer(self, number: int, now: float) -> Address | None:
        binding = self.channels.get(number)
        if binding is None or binding.expires <= now:
            return None
        return binding.peer

    def peer_channel(self, peer: Address, now: float) -> int | None:
        binding = self.peer_channels.get(peer)
        if binding is None or binding.expires <= now:
            return None
        return binding.number

    # -- expiry ------------------------------------------------------------------------

    def expired(self, now: float) -> bool:
        return self.expires <= now

    def prune(self, now: float) -> None:
        """Forget expired permissions and bindings past their quarantine."""
        for host in [h for h, exp in self.permissions.items() if exp <= now]:
            del self.permissions[host]
        for binding in [
            b for b in self.channels.values() if b.expires + CHANNEL_QUARANTINE_S <= now
        ]:
            del self.channels[binding.number]
            self.peer_channels.pop(binding.peer, None)


class AllocationTable:
    """All allocations by 5-tuple, with quotas. ``on_removed`` runs for every removal
    (refresh to zero, expiry, closed connection) so the owner can close the relay."""

    def __init__(
        self, limits: TurnLimits, on_removed: Callable[[Allocation], None] | None = None
    ) -> None:
        self._limits = limits
        self._on_removed = on_removed
        self._by_tuple: dict[FiveTuple, Allocation] = {}
        self._per_user: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self._by_tuple)

    def __iter__(self) -> Iterator[Allocation]:
        return iter(list(self._by_tuple.values()))

    def count_for(self, user: str) -> int:
        return self._per_user.get(user, 0)

    def get(self, five_tuple: FiveTuple, now: float) -> Allocation | None:
        """The live allocation on ``five_tuple``; an expired one is removed first."""
        alloc = self._by_tuple.get(five_tuple)
        if alloc is not None and alloc.expires <= now:
            self.remove(five_tuple)
            return None
        return alloc

    def quota_error(self, user: str) -> int | None:
        """RFC 8656 §7.2 step 10: 486 past the per-user quota (by username, "not on the
        client's transport address"); 508 (Insufficient Capacity) when the server is full."""
        if self._per_user.get(user, 0) >= self._limits.max_allocations_per_user:
            return 486
        if len(self._by_tuple) >= self._limits.max_allocations:
            return 508
        return None

    def add(self, alloc: Allocation) -> None:
        if alloc.five_tuple in self._by_tuple:
            raise ValueError("5-tuple already has an allocation")
        self._by_tuple[alloc.five_tuple] = alloc
        user = alloc.credential.user
        self._per_user[user] = self._per_user.get(user, 0) + 1

    def remove(self, five_tuple: FiveTuple) -> Allocation | None:
        alloc = self._by_tuple.pop(five_tuple, None)
        if alloc is None:
            return None
        user = alloc.credential.user
        left = self._per_user.get(user, 1) - 1
        if left > 0:
            self._per_user[user] = left
        else:
            self._per_user.pop(user, None)
        if self._on_removed is not None:
            self._on_removed(alloc)
        return alloc

    def expire(self, now: float) -> list[Allocation]:
        """Remove expired allocations (returned) and prune the live ones."""
        gone = [a for a in self._by_tuple.values() if a.expires <= now]
        for alloc in gone:
            self.remove(alloc.five_tuple)
        for alloc in self._by_tuple.values():
            alloc.prune(now)
        return gone

    def clear(self) -> None:
        for five_tuple in list(self._by_tuple):
            self.remove(five_tuple)
