"""Start-up: the time from exec to listening, for `pychat serve` and a bare aiohttp app.

Each run starts `python -m appliance serve` on a fresh data folder (loopback, port 0) and
times from just before the exec to the `Pychat listening on` line (printed once the socket
is bound). The bare reference runs in the same loop, interleaved: `python -c` with an
aiohttp app of one route, listening the same way. Last, runs with `python -X importtime`
print where import time goes and which heavy libraries were loaded before listening.

    .venv/bin/python bench/startup.py                          # 9 runs each
    .venv/bin/python bench/startup.py --tree /tmp/old --tree .  # two checkouts, one run
    .venv/bin/python bench/startup.py --set-up                  # a restart after setup
    .venv/bin/python bench/startup.py --appliance --set-up      # HTTPS: a device restarting
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LISTENING = re.compile(r"listening on (https?://\S+)")
PYCACHE = ROOT / "bench" / ".cache" / "pycache"  # per checkout path, so trees never mix
IMPORT_LINE = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \| (\s*)(\S+)")
# What has no business on the way to listening (loaded on use or after listening).
HEAVY = ("aiortc", "aioice", "av", "PIL", "zeroconf", "ifaddr", "jinja2", "cryptography")
APPLIANCE = {
    "PYCHAT_SERVER_MODE": "appliance",
    "PYCHAT_SERVER_HTTPS_LISTEN": "127.0.0.1:0",
    "PYCHAT_SERVER_HTTP_LISTEN": "127.0.0.1:0",
    "PYCHAT_DISCOVERY_MDNS": "off",  # no multicast from a benchmark
}
BARE = """
import asyncio
from aiohttp import web

async def main():
    app = web.Application()
    app.router.add_get("/", lambda r: web.Response(text="ok"))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    print(f"bare listening on http://{host}:{port}", flush=True)
    await asyncio.Event().wait()

asyncio.run(main())
"""


def start_to_listening(argv: list[str], env: dict[str, str], cwd: str) -> tuple[float, str]:
    """Seconds from exec to the listening line, and everything printed until then."""
    seen: list[str] = []
    started = time.perf_counter()
    proc = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=cwd
    )
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if LISTENING.search(line):
                return time.perf_counter() - started, "".join(seen)
            seen.append(line)
        raise SystemExit(f"{argv[:4]} exited before listening:\n{''.join(seen)[-3000:]}")
    finally:
        proc.terminate()
        proc.wait(30)


def fresh_data(tmp: Path, tree: str, env: dict[str, str], set_up: bool) -> Path:
    data = Path(tempfile.mkdtemp(dir=tmp))
    if set_up:
        subprocess.run(
            [sys.executable, "-m", "appliance", "init", "--org", "Bench", "--admin", "admin",
             "--password-stdin", "--data", str(data)],
            input="bench-password-1\n", capture_output=True, text=True, env=env, cwd=tree,
            check=True,
        )  # fmt: skip
        start_to_listening(serve_argv(data), env, tree)  # certificates made: a restart next
    return data


def serve_argv(data: Path, *flags: str) -> list[str]:
    return [sys.executable, *flags, "-m", "appliance", "serve", "--data", str(data),
            "--listen", "127.0.0.1:0"]  # fmt: skip


def import_report(outputs: list[str], top: int) -> None:
    """Top packages and modules by their own import time, from `-X importtime` lines: each
    module's least over the runs (the machine's other work only ever adds)."""
    own: dict[str, int] = {}
    for output in outputs:
        for line in output.splitlines():
            if m := IMPORT_LINE.search(line):
                us, name = int(m.group(1)), m.group(4)
                own[name] = min(us, own.get(name, us))
    by_package: dict[str, int] = defaultdict(int)
    for name, us in own.items():
        by_package[name.split(".")[0]] += us
    total = sum(own.values())
    print(f"  imports before listening: {len(own)} modules, {total / 1000:,.0f} ms (self)")
    print(f"  top {top} packages (self time summed):")
    for name, us in sorted(by_package.items(), key=lambda kv: -kv[1])[:top]:
        print(f"    {us / 1000:8.1f} ms  {name}")
    print(f"  top {top} modules (self time):")
    for name, us in sorted(own.items(), key=lambda kv: -kv[1])[:top]:
        print(f"    {us / 1000:8.1f} ms  {name}")
    loaded = sorted({n.split(".")[0] for n in own} & set(HEAVY))
    print(f"  heavy libraries loaded before listening: {', '.join(loaded) or 'none'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--top", type=int, default=10, help="imports listed")
    parser.add_argument("--import-runs", type=int, default=5, help="runs with -X importtime")
    parser.add_argument(
        "--tree", action="append", help="a checkout to run (repeat to compare; default this)"
    )
    parser.add_argument(
        "--set-up", action="store_true", help="time a restart: `pychat init` and one start first"
    )
    parser.add_argument(
        "--appliance", action="store_true", help="appliance mode (HTTPS on loopback, no mDNS)"
    )
    args = parser.parse_args()
    trees = [str(Path(t).resolve()) for t in (args.tree or [str(ROOT)])]
    times: dict[str, list[float]] = defaultdict(list)
    with tempfile.TemporaryDirectory(prefix="pychat-startup-bench-") as tmp_name:
        tmp = Path(tmp_name)
        # Bytecode cached, as on the appliance (pip compiles on install): this machine's
        # PYTHONDONTWRITEBYTECODE would add seconds of compiling to every start.
        base = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        base["PYTHONPYCACHEPREFIX"] = str(PYCACHE)
        if args.appliance:
            base.update(APPLIANCE)
        envs = {t: {**base, "PYTHONPATH": t} for t in trees}
        for tree in trees:  # warm-up: writes the bytecode cache
            data = fresh_data(tmp, tree, envs[tree], args.set_up)
            start_to_listening(serve_argv(data), envs[tree], tree)
        for _ in range(args.runs):  # interleaved: machine load hits every subject alike
            elapsed, _out = start_to_listening(
                [sys.executable, "-c", BARE], dict(os.environ), tmp_name
            )
            times["bare aiohttp"].append(elapsed)
            for tree in trees:
                data = fresh_data(tmp, tree, envs[tree], args.set_up)
                elapsed, _out = start_to_listening(serve_argv(data), envs[tree], tree)
                times[tree].append(elapsed)
        print(f"exec to listening, {args.runs} runs each (s), load {os.getloadavg()[0]:.1f}:")
        bare = statistics.median(times["bare aiohttp"])
        for name, values in times.items():
            median = statistics.median(values)
            print(
                f"  {name:<40} median {median:6.3f}  min {min(values):6.3f}  "
                f"max {max(values):6.3f}  ({median / bare:.1f}x bare)"
            )
        for tree in trees:
            outputs = []
            for _ in range(args.import_runs):
                data = fresh_data(tmp, tree, envs[tree], args.set_up)
                _elapsed, out = start_to_listening(
                    serve_argv(data, "-X", "importtime"), envs[tree], tree
                )
                outputs.append(out)
            print(f"{tree} ({args.import_runs} runs with -X importtime, least of each):")
            import_report(outputs, args.top)


if __name__ == "__main__":
    main()
