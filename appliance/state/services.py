"""What every chat action works with: settings, storage, the hub, limits and the clock."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ..buckets import Buckets, LocalBuckets
from ..chat.call_registry import CallLimits
from ..chat.calls import CallService
from ..chat.redaction import Scrubber
from ..clock.steps import ClockSteps
from ..clock.watch import ClockWatch
from ..config import Settings
from ..db import Database
from ..guesses import Guesses, LocalGuesses
from ..hub import Hub
from ..painter.live_boards import Painter
from ..passwords import HashPool
from ..ratelimit import InFlight

TYPING_PER_SECOND = 0.5
# GET /api/turn per user: a call fetches it once; a burst covers reloads.
TURN_REQUESTS = (0.5, 10)
TEST_CALLS = (1.0, 5)  # POST /api/test-call per user
# "Forgot password?": a few asks per address of the asker (IPv6: its /64; then 429), and
# at most one mail per email address every few minutes (past that the same answer, no mail).
FORGOT_PER_IP = (1 / 60, 5)
FORGOT_PER_ADDRESS = (1 / 300, 1)
HASHES_RUNNING_PER_KEY = 2
HASHES_WAITING_PER_KEY = 16


@dataclass
class Services:
    settings: Settings
    db: Database
    hub: Hub
    clock: Callable[[], float] = time.time
    # Per account (`buckets.py`; on several nodes, in Redis): sends, typing, new rooms.
    send_limits: Buckets = field(init=False)
    # Password and invite guesses per address and username (on several nodes, in Redis).
    guesses: Guesses = field(init=False)
    # Password checks and hashes in flight per address and per username: one flood cannot
    # fill the shared hashing queue (passwords) that everyone's logins wait in.
    hashing: InFlight[tuple[str, str]] = field(init=False)
    # Every password hash and check runs here (bounded threads and queue; passwords.py).
    passwords: HashPool = field(init=False)
    # Told (user id, deactivated) when an admin (re)activates an account: the TURN server.
    account_listeners: list[Callable[[int, bool], None]] = field(default_factory=list)
    typing_limits: Buckets = field(init=False)
    room_creates: Buckets = field(init=False)
    # Per account: TURN credentials and test calls; per address and per email address:
    # password-reset requests and mails (on several nodes, in Redis too).
    turn_requests: Buckets = field(init=False)
    test_calls: Buckets = field(init=False)
    forgot_by_ip: Buckets = field(init=False)
    forgot_by_address: Buckets = field(init=False)
    # Purges deleted and edited text from the search index and the log (chat/redaction.py).
    scrubber: Scrubber = field(init=False)
    calls: CallService = field(init=False)
    # The rooms' shared boards held in memory (`paint.*`; on several nodes, kept in step).
    painter: Painter = field(init=False)
    clock_steps: ClockSteps = field(init=False)
    dummy_password_hash: str = ""
    setup_done: bool = False

    def __post_init__(self) -> None:
        limits, auth = self.settings.limits, self.settings.auth

        def clock() -> float:  # read late: tests move the clock
            return self.clock()

        self.send_limits = LocalBuckets(limits.send_per_second, limits.send_burst, clock)
        self.guesses = LocalGuesses(
            auth.login_failures_per_ip,
            auth.login_failures_per_user,
            auth.login_window_s,
            lambda: self.clock(),
        )
        self.hashing = InFlight(running=HASHES_RUNNING_PER_KEY, waiting=HASHES_WAITING_PER_KEY)
        self.passwords = HashPool(auth.hash_workers, auth.hash_queue)
        # Typing frames are relayed at most every 2 s per user and room (clients show ~5 s).
        self.typing_limits = LocalBuckets(TYPING_PER_SECOND, 1, clock)
        self.scrubber = Scrubber(self.db)
        self.room_creates = LocalBuckets(
            limits.room_creates_per_minute / 60, limits.room_creates_burst, clock
        )
        self.turn_requests = LocalBuckets(*TURN_REQUESTS, clock)
        self.test_calls = LocalBuckets(*TEST_CALLS, clock)
        self.forgot_by_ip = LocalBuckets(*FORGOT_PER_IP, clock)
        self.forgot_by_address = LocalBuckets(*FORGOT_PER_ADDRESS, clock)
        c = self.settings.calls
        call_limits = CallLimits(
            c.ring_timeout_s, c.rejoin_grace_s, c.max_participants, c.ring_max_members
        )
        self.calls = CallService(self.hub, self.db, call_limits, lambda: self.clock())
        self.painter = Painter(self)
        # Notices steps of self.clock (a Pi without a clock battery) and moves deadlines.
        self.clock_steps = ClockSteps(self.db, ClockWatch(lambda: self.clock()))
        self.clock_steps.listeners.append(self.calls.shift_clock)

    def now_ms(self) -> int:
        return int(self.clock() * 1000)
