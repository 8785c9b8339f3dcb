"""Password (and invite) guesses, counted per address and per username before they are checked.

One device counts them in memory (`LocalGuesses`); several nodes count them together in
Redis (`cluster/limits.py: SharedGuesses`), or an attacker spreading guesses over N nodes
would get N times the budget. A guess is counted as a failure before its check runs, so
parallel guesses cannot all slip past the limit; a success (or a check that never ran)
gives it back.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from .errors import RateLimited
from .ratelimit import FailureWindow


@dataclass
class Guess:
    """One counted guess: what to give back if it was not a failure after all."""

    ip: str | None
    user: str | None
    tokens: dict[str, Any] = field(default_factory=dict)  # the engine's handles, by kind


class Guesses(Protocol):
    async def count(self, ip: str | None, user: str | None) -> Guess:
        """Count a guess; RateLimited (nothing counted) past a limit."""

    async def forgive(self, guess: Guess, *, user: bool = True) -> None:
        """Give the guess back (of the address; of the username too unless `user=False`)."""

    async def succeeded(self, guess: Guess) -> None:
        """The right password: the address's guess back, the username's failures forgotten."""


def too_many(wait: float) -> RateLimited:
    return RateLimited("Too many failed attempts; try again later.", retry_after_s=wait)


class LocalGuesses:
    def __init__(self, per_ip: int, per_user: int, window_s: float, clock: Callable[[], float]):
        self.by_ip: FailureWindow[str] = FailureWindow(per_ip, window_s)
        self.by_user: FailureWindow[str] = FailureWindow(per_user, window_s)
        self._clock = clock

    async def count(self, ip: str | None, user: str | None) -> Guess:
        now = self._clock()
        wait = 0.0 if ip is None else self.by_ip.attempt(ip, now)
        if wait <= 0 and user is not None:
            wait = self.by_user.attempt(user, now)
            if wait > 0 and ip is not None:
                self.by_ip.forgive(ip)
        if wait > 0:
            raise too_many(wait)
        return Guess(ip, user)

    async def forgive(self, guess: Guess, *, user: bool = True) -> None:
        if guess.ip is not None:
            self.by_ip.forgive(guess.ip)
        if user and guess.user is not None:
            self.by_user.forgive(guess.user)

    async def succeeded(self, guess: Guess) -> None:
        if guess.user is not None:
            self.by_user.clear(guess.user)
        await self.forgive(guess, user=False)
