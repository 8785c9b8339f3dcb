"""Where the call registry lives: this process's memory on one device; Redis on several
nodes (cluster/calls.py). Either way an operation runs on the registry as it is, and what
it changed is rendered into deliveries and handed to `on_change` of every node that holds
devices, with the registry's next deadline (rings that time out, absences whose grace
ends), so each node can tell its own devices and keep its timer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, TypeVar

from .call_frames import Delivery, render
from .call_registry import CallLimits, CallRegistry, Notices

T = TypeVar("T")
Op = Callable[[CallRegistry], tuple[T, Notices]]
OnChange = Callable[[list[Delivery], float | None], None]
CLAIM_S = 10  # a frame every node hears arrives everywhere within it


class CallStore(Protocol):
    async def run(self, op: Op[T]) -> tuple[T, Notices]:
        """Apply `op` to the registry; returns its result and what it changed. An error it
        raises leaves the registry as it was."""
        ...

    async def snapshot(self) -> CallRegistry:
        """The registry as it is now, to read (changes to it are not kept)."""
        ...

    def shift_clock(self, delta_s: float) -> None:
        """The wall clock stepped: keep every timer's real time left."""
        ...

    async def claim(self, what: str) -> bool:
        """Whether this node is the one to act on `what`, a frame every node hears (the
        first to ask, for `CLAIM_S`)."""
        ...


class LocalCallStore:
    """The registry in this process (one device)."""

    def __init__(self, limits: CallLimits, on_change: OnChange) -> None:
        self.registry = CallRegistry(limits)
        self._on_change = on_change

    async def run(self, op: Op[T]) -> tuple[T, Notices]:
        result, notices = op(self.registry)
        if notices:
            self._on_change(render(notices, self.registry), self.registry.next_deadline())
        return result, notices

    async def snapshot(self) -> CallRegistry:
        return self.registry

    def shift_clock(self, delta_s: float) -> None:
        self.registry.shift_clock(delta_s)
        self._on_change([], self.registry.next_deadline())

    async def claim(self, what: str) -> bool:
        return True  # the only node
