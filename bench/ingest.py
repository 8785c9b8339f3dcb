#!/usr/bin/env python3
"""Ingest benchmark: durable acknowledged messages through Pychat's real server.

Each sender is a user alone in a private room of its own (so the fan-out is one event,
to the sender), connected over WebSocket; `message.send` carries a client_id and the ack
is the server's reply, which comes only after the message is durably committed.

  fixed       --rate msg/s (default 100) offered, open loop, from --rate-senders sockets:
              ack latency p50/p95/p99
  saturated   --senders sockets, each keeping --window sends in flight: durable msgs/s

Then bench/bare_server.py --mode ingest --db (one sqlite3 writer thread that commits
whatever arrived during the previous commit, WAL, same synchronous setting, a messages
row with its FTS5 index and an events row per message) runs under the same load and
client code, and the figures are printed with their ratios.
Example: .venv/bin/python bench/ingest.py --senders 32 --window 8
"""

from __future__ import annotations

import argparse
import contextlib
import re
import shutil
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    BENCH_DIR,
    CACHE_DIR,
    PYTHON,
    Row,
    ServerProcess,
    apply_nice,
    exit_on_sigterm,
    log,
    print_table,
    raise_nofile,
    wait_quiet,
)
from _phases import (
    PhaseResult,
    Pool,
    by_worker,
    connect,
    print_load_check,
    profile_path,
    run_phase,
    server_problems,
    spread,
    summarize_profile,
)
from _provision import check_sessions, copy_template, prepared_ingest, start_real


def run_target(
    name: str,
    server: ServerProcess,
    cookies: list[str | None],
    rooms: list[int],
    args: argparse.Namespace,
    profile: Path | None,
) -> dict[str, Any]:
    pool = Pool(args.procs, server.host, server.port, use_uvloop=not args.no_uvloop)
    out: dict[str, Any] = {}
    try:
        ok, _secs, errors = connect(pool, cookies)
        log(
            f"{name}: {ok} of {len(cookies)} senders connected"
            + (f"; {dict(errors)}" if errors else "")
        )
        pad = "x" * max(0, args.body_bytes - 30)
        fixed = spread(args.rate_senders, len(cookies))
        items: list[tuple[int, Any]] = [
            (i, (i, k / args.rate, rooms[i])) for k, i in enumerate(fixed)
        ]
        per = [
            {"senders": s, "rate": args.rate / len(fixed), "duration": args.duration, "pad": pad}
            for s in by_worker(pool, items)
        ]
        log(
            f"{name}: fixed rate: {args.rate:g} msg/s from {len(fixed)} senders"
            f" for {args.duration:g} s"
        )
        out["fixed"] = run_phase(
            pool, server, "fixed", "start_rate", per, args.duration, profile_path(profile, "fixed")
        )
        log(f"{name}: {out['fixed'].summary()}")
        items = [(i, (i, rooms[i])) for i in range(len(cookies))]
        per = [
            {"senders": s, "window": args.window, "duration": args.duration, "pad": pad}
            for s in by_worker(pool, items)
        ]
        log(
            f"{name}: saturated: {len(cookies)} senders x {args.window} in flight"
            f" for {args.duration:g} s"
        )
        out["sat"] = run_phase(
            pool,
            server,
            "saturated",
            "start_window",
            per,
            args.duration,
            profile_path(profile, "saturated"),
        )
        log(f"{name}: {out['sat'].summary()}")
        out["acked_total"] = out["fixed"].acks_total + out["sat"].acks_total
    finally:
        pool.close()
    return out


def count_rows(db: Path) -> int | None:
    with contextlib.suppress(sqlite3.Error):
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            return int(con.execute("SELECT count(*) FROM messages").fetchone()[0])
        finally:
            con.close()
    return None


def real(args: argparse.Namespace) -> dict[str, Any]:
    prepared, meta = prepared_ingest(args.senders, args.fresh)
    data = copy_template(prepared)
    env = {"PYCHAT_DB_SYNCHRONOUS": args.synchronous}
    server: ServerProcess | None = None
    out: dict[str, Any] = {}
    try:
        server = start_real(data, env)
        users = meta["users"]
        why = check_sessions(server.base_url, [users[0]["cookie"], users[-1]["cookie"]])
        if why is not None:
            log(f"cached sessions rejected ({why}): provisioning again")
            server.stop()
            shutil.rmtree(data.parent, ignore_errors=True)
            prepared, meta = prepared_ingest(args.senders, fresh=True)
            data = copy_template(prepared)
            server = start_real(data, env)
            users = meta["users"]
        log(f"pychat: pid {server.pid} at {server.base_url}, synchronous={args.synchronous}")
        profile = CACHE_DIR / "profiles" / f"ingest-{int(time.time())}" if args.profile else None
        cookies: list[str | None] = [u["cookie"] for u in users]
        out = run_target("pychat", server, cookies, [u["room"] for u in users], args, profile)
        out["profile"] = profile
    finally:
        if server is not None:
            rc = server.stop()
            problems = server_problems(server)
            if rc not in (0, -15) or problems:
                log(f"pychat exited {rc}; log lines worth a look:\n    " + "\n    ".join(problems))
        out["stored"] = count_rows(data / "pychat.db")
        shutil.rmtree(data.parent, ignore_errors=True)
    return out


def bare(args: argparse.Namespace) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="pychat-bare-"))
    db = tmp / "bare.db"
    argv = [PYTHON, str(BENCH_DIR / "bare_server.py"), "--mode", "ingest", "--db", str(db)]
    server = ServerProcess([*argv, "--synchronous", args.synchronous], name="bare")
    out: dict[str, Any] = {}
    try:
        server.start()
        log(f"bare: pid {server.pid} at {server.base_url}")
        n = args.senders
        out = run_target("bare", server, [None] * n, [i + 1 for i in range(n)], args, None)
    finally:
        server.stop()
        out["stored"] = count_rows(db)
        for line in server.output:
            m = re.search(r"bare writer: (\d+) rows in (\d+) commits", line)
            if m:
                out["rows_per_commit"] = int(m.group(1)) / max(1, int(m.group(2)))
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def report(ours: dict[str, Any], b: dict[str, Any] | None, args: argparse.Namespace) -> None:
    f, s = ours["fixed"], ours["sat"]
    bf: PhaseResult | None = b["fixed"] if b else None
    bs: PhaseResult | None = b["sat"] if b else None

    def bb(p: PhaseResult | None, attr: str, i: int | None = None) -> float | None:
        if p is None:
            return None
        v = getattr(p, attr)
        return float(v[i] if i is not None else v)

    r = f"{args.rate:g}"
    rows = [
        Row("durable msgs/s, saturated", s.acks_per_s, bb(bs, "acks_per_s"), "", "≥ 2,000",
            s.acks_per_s >= 2000),
        Row("ack p50, saturated", s.ack_ms[0], bb(bs, "ack_ms", 0), "ms"),
        Row("ack p99, saturated", s.ack_ms[2], bb(bs, "ack_ms", 2), "ms"),
        Row("server CPU per msg, saturated", s.cpu_us_per_ack, bb(bs, "cpu_us_per_ack"), "µs"),
        Row(f"acked msgs/s at {r} offered", f.acks_per_s, bb(bf, "acks_per_s")),
        Row(f"ack p50 at {r} msg/s", f.ack_ms[0], bb(bf, "ack_ms", 0), "ms", "≤ 5",
            f.ack_ms[0] <= 5),
        Row(f"ack p95 at {r} msg/s", f.ack_ms[1], bb(bf, "ack_ms", 1), "ms"),
        Row(f"ack p99 at {r} msg/s", f.ack_ms[2], bb(bf, "ack_ms", 2), "ms", "≤ 50",
            f.ack_ms[2] <= 50),
        Row(f"server CPU per msg at {r}/s", f.cpu_us_per_ack, bb(bf, "cpu_us_per_ack"), "µs"),
    ]  # fmt: skip
    title = (
        f"ingest: synchronous={args.synchronous}, {args.senders} senders x {args.window} in flight,"
        f" {args.duration:g} s phases"
    )
    print_table(title, rows)
    print_load_check(
        [
            (label, d.get("fixed"), d.get("sat"))
            for label, d in (("pychat", ours), ("bare", b or {}))
        ]
    )
    for label, d in (("pychat", ours), ("bare", b or {})):
        if d:
            extra = (
                f", {d['rows_per_commit']:.1f} rows per commit" if "rows_per_commit" in d else ""
            )
            print(
                f"  {label:6} durability: {d.get('acked_total')} acked,"
                f" {d.get('stored')} rows stored{extra}"
            )
    for phase in ("fixed", "saturated"):
        lines = summarize_profile(profile_path(ours.get("profile"), phase))
        if lines:
            print(f"\n{phase} phase, " + "\n".join(lines))


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--senders", type=int, default=32, help="sending sockets/users (default 32)")
    ap.add_argument("--window", type=int, default=8, help="sends in flight per socket (default 8)")
    ap.add_argument(
        "--rate", type=float, default=100.0, help="fixed-phase offered msg/s (default 100)"
    )
    ap.add_argument("--rate-senders", type=int, default=4, help="fixed-phase senders (default 4)")
    ap.add_argument("--duration", type=float, default=20.0, help="seconds per phase (default 20)")
    ap.add_argument("--synchronous", default="FULL", choices=("FULL", "NORMAL", "EXTRA"))
    ap.add_argument("--skip-bare", action="store_true", help="do not run the bare writer")
    ap.add_argument("--procs", type=int, default=2, help="load-generator processes (default 2)")
    ap.add_argument("--body-bytes", type=int, default=100, help="message body size (default 100)")
    ap.add_argument(
        "--quiet-wait", type=float, default=120.0, help="wait up to N s for a quiet machine"
    )
    ap.add_argument("--nice", type=int, default=0, help="nice value for servers and clients")
    ap.add_argument("--fresh", action="store_true", help="rebuild the cached data dir and sessions")
    ap.add_argument("--profile", action="store_true", help="py-spy the server in each phase")
    ap.add_argument(
        "--no-uvloop", action="store_true", help="plain asyncio in the client processes"
    )
    args = ap.parse_args()
    exit_on_sigterm()
    apply_nice(args.nice)
    raise_nofile()
    wait_quiet(args.quiet_wait)
    ours = real(args)
    base = None
    if not args.skip_bare:
        wait_quiet(args.quiet_wait)
        base = bare(args)
    report(ours, base, args)


if __name__ == "__main__":
    main()
