"""Starting the real `pychat serve` as a subprocess on a free loopback port."""

from __future__ import annotations

import hashlib
import os
import random
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

READY = re.compile(r"Pychat listening on (http://\S+)")
ADMIN_PASSWORD = "admin-password-1"
# Servers and commands start hundreds of times in a run: they keep their compiled bytecode
# in a cache outside the tree rather than compiling ~350 modules at every start.
PYCACHE = Path(tempfile.gettempdir()) / "pychat-tests-pycache"


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    return {**env, "PYTHONPYCACHEPREFIX": str(PYCACHE), **(extra or {})}


# Set (to a PostgreSQL server's postgresql://.../db address) by the `postgresql` engine's
# run (tests/conftest.py): every data folder's commands and server then use a database of
# that folder's own on it, instead of SQLite in the folder.
TEST_POSTGRES = "PYCHAT_TEST_POSTGRES"
# Set by the `cluster` engine's run (PostgreSQL too): every `Server` is then that many
# `pychat serve` nodes on its folder's database, with a Redis of its own as their bus,
# behind an HAProxy that hands each connection to the next node (docs/scaling.md's set-up,
# with no stickiness but a WebSocket's own). Its `url` is the balancer's.
TEST_CLUSTER_NODES = "PYCHAT_TEST_CLUSTER_NODES"
SERVER_LOG = os.environ.get("PYCHAT_TEST_SERVER_LOG", "")
_created: set[str] = set()


def database_env(data: Path) -> dict[str, str]:
    """The environment that gives `data` its database: nothing on SQLite (the folder's
    own file), else `PYCHAT_DATABASE_URL` of a PostgreSQL database made for it."""
    server = os.environ.get(TEST_POSTGRES)
    if not server:
        return {}
    name = "data_" + hashlib.sha256(str(data.resolve()).encode()).hexdigest()[:20]
    base = server.rsplit("/", 1)[0]
    if name not in _created:
        made = subprocess.run(
            ["psql", server, "-qc", f"CREATE DATABASE {name}"],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert made.returncode == 0 or "already exists" in made.stderr, made.stderr
        _created.add(name)
    return {"PYCHAT_DATABASE_URL": f"{base}/{name}"}


def pychat(
    *args: str, data: Path, stdin: str | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "appliance", *args, "--data", str(data)],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        env=child_env({**database_env(data), **(env or {})}),
        check=False,
    )


def init_data(
    data: Path,
    admin: str = "admin",
    password: str = ADMIN_PASSWORD,
    *,
    env: dict[str, str] | None = None,
) -> None:
    done = pychat(
        "init",
        "--org",
        "Acme",
        "--admin",
        admin,
        "--password-stdin",
        data=data,
        stdin=password + "\n",
        env=env,
    )
    assert done.returncode == 0, done.stderr


def free_port() -> int:
    """A free loopback port below the kernel's ephemeral range (32768-60999), so no
    outgoing connection can take it while a server on it is down for a restart."""
    for _ in range(200):
        port = random.randint(20_000, 29_999)
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port")


# Serves the web app from another folder: the server has no setting for it, so this sets the
# default of `appliance.web.static.add_routes` before running the ordinary command line.
_SERVE_FROM = """
import runpy, sys
from pathlib import Path
import appliance.web.static as static
static.add_routes.__defaults__ = (Path(sys.argv.pop(1)),)
sys.argv[0] = "appliance"
runpy.run_module("appliance", run_name="__main__", alter_sys=True)
"""


@dataclass
class Server:
    """`pychat serve` on loopback. `port=0` takes any free port at each start; a fixed
    `port` (see `free_port`) keeps the browser's origin (cookies, IndexedDB, service
    worker) across `stop()` and `start()`. Set `static_dir` before a `start()` to serve
    another build of the web app (a new version after a restart)."""

    data: Path
    env: dict[str, str] = field(default_factory=dict)
    args: tuple[str, ...] = ()  # extra `pychat serve` flags (e.g. --allow-loopback-peers)
    port: int = 0
    static_dir: Path | None = None
    url: str = ""
    proc: subprocess.Popen[str] | None = None
    output: list[str] = field(default_factory=list)
    is_node: bool = False  # one node of a cluster (TEST_CLUSTER_NODES), not the whole
    nodes: list[Server] = field(default_factory=list)
    balancer: Any = None  # tests.engines.HAProxy in front of `nodes`
    bus: Any = None  # tests.engines.RedisServer of `nodes`

    def start(self, timeout: float = 30) -> Server:
        if os.environ.get(TEST_CLUSTER_NODES) and not self.is_node:
            return self._start_cluster(int(os.environ[TEST_CLUSTER_NODES]), timeout)
        self.output = []
        self.url = ""
        program = ["-m", "appliance"]
        if self.static_dir is not None:
            program = ["-c", _SERVE_FROM, str(self.static_dir)]
        self.proc = subprocess.Popen(
            [
                sys.executable,
                *program,
                "serve",
                "--data",
                str(self.data),
                "--listen",
                f"127.0.0.1:{self.port}",
                *self.args,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=child_env({"PYTHONUNBUFFERED": "1", **database_env(self.data), **self.env}),
        )
        ready = threading.Event()
        threading.Thread(target=self._read, args=(self.proc, ready), daemon=True).start()
        if not ready.wait(timeout) or not self.url:
            self.stop()
            raise RuntimeError("server did not start:\n" + "".join(self.output))
        if self.port:
            assert self.url == f"http://127.0.0.1:{self.port}", self.url
        return self

    def _read(self, proc: subprocess.Popen[str], ready: threading.Event) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            self.output.append(line)
            if SERVER_LOG:  # every server's output in one file, to read after a run
                with open(SERVER_LOG, "a", encoding="utf-8") as log:
                    log.write(line)
            match = READY.search(line)
            if match and not ready.is_set():
                self.url = match.group(1)
                ready.set()
        ready.set()

    def _start_cluster(self, count: int, timeout: float) -> Server:
        from tests.engines import HAProxy, RedisServer  # imported here: it imports this module

        try:
            self.bus = RedisServer().start()
            env = {**self.env, "PYCHAT_BUS_URL": self.bus.url}
            for _ in range(count):
                # Each node listens before the next port is picked: no two get the same.
                node = Server(self.data, env=env, args=self.args, port=free_port(),
                              static_dir=self.static_dir, is_node=True)  # fmt: skip
                self.nodes.append(node)
                node.start(timeout)
            self.port = self.port or free_port()  # the balancer keeps the origin across starts
            self.balancer = HAProxy([n.port for n in self.nodes], port=self.port).start()
        except BaseException:
            self._stop_cluster(kill=True)
            raise
        self.url = self.balancer.url
        return self

    def _stop_cluster(self, *, kill: bool) -> int | None:
        """Every part stopped whatever fails on the way; the nodes' output is kept."""
        codes: list[int | None] = []
        try:
            for node in self.nodes:
                try:
                    if kill and node.proc is not None:
                        node.kill()
                    else:
                        codes.append(node.stop())
                finally:
                    self.output += node.output
        finally:
            self.nodes = []
            for part in (self.balancer, self.bus):
                if part is not None:
                    part.stop()
            self.balancer = self.bus = None
        return next((code for code in codes if code), codes[0] if codes else None)

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://") + "/api/ws"

    def stop(self, timeout: float = 15) -> int | None:
        if self.nodes or self.balancer is not None:
            return self._stop_cluster(kill=False)
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout)
        code = self.proc.returncode
        self.proc = None
        return code

    def kill(self) -> None:
        """kill -9: no chance to flush or clean up."""
        if self.nodes or self.balancer is not None:
            self._stop_cluster(kill=True)
            return
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(15)
        self.proc = None

    def log(self) -> str:
        return "".join(self.output) + "".join(node.log() for node in self.nodes)
