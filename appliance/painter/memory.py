"""What the boards held in memory cost, all together and per author, against the two
budgets (`painter.memory_bytes`, `painter.user_bytes`: docs/api/painter.md, "Memory")."""

from __future__ import annotations


class MemoryBudget:
    def __init__(self, memory_bytes: int, user_bytes: int) -> None:
        self.memory_bytes = memory_bytes
        self.user_bytes = user_bytes
        self.held = 0  # op cost of the boards held open
        self.held_by: dict[int, int] = {}  # author → their part of `held`

    @property
    def full(self) -> bool:
        """Over the budget of all boards: no further board opens."""
        return self.held > self.memory_bytes

    def count(self, costs: dict[int, int], sign: int) -> None:
        """Add (`sign` 1) or take away (-1) costs by author."""
        for author, cost in costs.items():
            self.held += sign * cost
            left = self.held_by.get(author, 0) + sign * cost
            if left:
                self.held_by[author] = left
            else:
                self.held_by.pop(author, None)

    def over(self, growth: dict[int, int], author: int) -> str | None:
        """Which budget `growth` (of an op by `author`) would pass, said for people; None
        when it fits (shrinking always fits)."""
        total = sum(growth.values())
        if total > 0 and self.held + total > self.memory_bytes:
            return (
                "The boards open on this server use all the memory they may"
                " (painter.memory_bytes); clear or undo some drawing, or try again later."
            )
        mine = growth.get(author, 0)
        if mine > 0 and self.held_by.get(author, 0) + mine > self.user_bytes:
            return (
                "You have drawn as much as one person may on the boards open now"
                " (painter.user_bytes); clear or undo some of your drawing to go on."
            )
        return None
