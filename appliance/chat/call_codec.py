"""A call registry as JSON: the form several nodes share it in (cluster/calls.py).

Everything `CallRegistry` holds, sets as sorted lists, so the same state always reads the
same. `room_of_user` is not stored: it follows from the calls' participants.
"""

from __future__ import annotations

import json
from typing import Any

from .call_registry import Call, CallLimits, CallRegistry, Participant


def encode(registry: CallRegistry) -> str:
    return json.dumps(
        {"last_id": registry.last_id, "calls": [_call(c) for c in registry.calls.values()]},
        separators=(",", ":"),
    )


def decode(text: str | bytes | None, limits: CallLimits) -> CallRegistry:
    registry = CallRegistry(limits)
    if not text:
        return registry
    state = json.loads(text)
    registry.last_id = int(state["last_id"])
    for raw in state["calls"]:
        call = Call(
            id=int(raw["id"]),
            room=int(raw["room"]),
            started_at=int(raw["started_at"]),
            started_by=int(raw["started_by"]),
            video=bool(raw["video"]),
            ringing=set(raw["ringing"]),
            declined=set(raw["declined"]),
            busy=set(raw["busy"]),
            ring_until=float(raw["ring_until"]),
            ring_until_of={int(u): float(t) for u, t in raw["ring_until_of"]},
            rang=bool(raw["rang"]),
            answered=bool(raw["answered"]),
        )
        for p in raw["participants"]:
            call.participants[int(p["user"])] = Participant(
                int(p["user"]),
                int(p["conn"]),
                bool(p["audio"]),
                bool(p["video"]),
                int(p["joined_at"]),
                bool(p["screen"]),
                None if p["gone_since"] is None else float(p["gone_since"]),
            )
            registry.room_of_user[int(p["user"])] = call.room
        registry.calls[call.room] = call
    return registry


def _call(call: Call) -> dict[str, Any]:
    return {
        "id": call.id,
        "room": call.room,
        "started_at": call.started_at,
        "started_by": call.started_by,
        "video": call.video,
        "participants": [
            {
                "user": p.user,
                "conn": p.conn,
                "audio": p.audio,
                "video": p.video,
                "joined_at": p.joined_at,
                "screen": p.screen,
                "gone_since": p.gone_since,
            }
            for p in call.participants.values()
        ],
        "ringing": sorted(call.ringing),
        "declined": sorted(call.declined),
        "busy": sorted(call.busy),
        "ring_until": call.ring_until,
        "ring_until_of": sorted(call.ring_until_of.items()),
        "rang": call.rang,
        "answered": call.answered,
    }
