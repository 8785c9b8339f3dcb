"""Real PostgreSQL and Redis from Debian's packages, each in a temporary folder of its own.

No container and no system service: `initdb` and `pg_ctl` make and run a cluster on a free
loopback port, `redis-server` runs in the foreground without persistence. PostgreSQL
refuses to run as root, so under root (CI, `unshare -n`) it runs as the `postgres` account
the Debian package made, in a folder that account owns.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
from pathlib import Path

from tests.server import free_port
from tests.waiting import wait_until_sync

START_S = 30.0  # a cold start on a loaded 2-core machine


def _pg_bin(name: str) -> str:
    """A PostgreSQL server program: Debian keeps them per major version, off the PATH."""
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), key=_major)
    if not found:
        raise RuntimeError(f"{name} not found: scripts/debian-packages test installs PostgreSQL")
    return found[-1]


def _major(path: str) -> int:
    return int(path.split("/")[4])


def _reachable(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


class PostgresServer:
    """`with PostgresServer() as pg: pg.url` (postgresql://...)."""

    def __init__(self) -> None:
        self.port = free_port()
        self._root = Path(tempfile.mkdtemp(prefix="pychat-pg-"))
        self._data = self._root / "data"
        self._as_user: list[str] = []
        if os.geteuid() == 0:
            account = pwd.getpwnam("postgres")
            os.chown(self._root, account.pw_uid, account.pw_gid)
            self._as_user = ["runuser", "-u", "postgres", "--"]
        self.url = f"postgresql://pychat@127.0.0.1:{self.port}/pychat"

    def _run(self, *argv: str) -> None:
        done = subprocess.run(
            [*self._as_user, *argv], capture_output=True, text=True, timeout=START_S
        )
        assert done.returncode == 0, f"{argv[0]} failed:\n{done.stdout}\n{done.stderr}"

    def start(self) -> PostgresServer:
        self._run(
            _pg_bin("initdb"), "-D", str(self._data), "-U", "pychat", "--auth=trust",
            "--encoding=UTF8", "--locale=C.UTF-8", "--no-sync",
        )  # fmt: skip
        self._run(
            _pg_bin("pg_ctl"), "-D", str(self._data), "-l", str(self._root / "log"), "-w",
            "-t", str(int(START_S)), "-o",
            f"-c listen_addresses=127.0.0.1 -c port={self.port}"
            f" -c unix_socket_directories={self._root} -c max_connections=200",
            "start",
        )  # fmt: skip
        self._run(_pg_bin("createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "pychat",
                  "pychat")  # fmt: skip
        return self

    def log(self) -> str:
        path = self._root / "log"
        return path.read_text(errors="replace") if path.exists() else ""

    def postmaster_pid(self) -> int:
        """The server's first process (its backends are its children)."""
        return int((self._data / "postmaster.pid").read_text().split()[0])

    def stop(self) -> None:
        if (self._data / "postmaster.pid").exists():
            subprocess.run(
                [*self._as_user, _pg_bin("pg_ctl"), "-D", str(self._data), "-m", "immediate",
                 "-w", "stop"],
                capture_output=True, timeout=START_S,
            )  # fmt: skip
        shutil.rmtree(self._root, ignore_errors=True)

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class RedisServer:
    """`with RedisServer() as r: r.url` (redis://...); `restart()` keeps its port."""

    def __init__(self) -> None:
        self.port = free_port()
        self._root = Path(tempfile.mkdtemp(prefix="pychat-redis-"))
        self._process: subprocess.Popen[bytes] | None = None
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        self._process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self._root), "--logfile",
             str(self._root / "log")],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        process = self._process
        wait_until_sync(
            lambda: _reachable(self.port) or process.poll() is not None,
            what=f"redis-server listens on {self.port}",
            timeout=START_S,
        )
        assert process.poll() is None, f"redis-server exited:\n{self.log()}"
        return self

    def kill(self) -> None:
        if self._process and self._process.poll() is None:
            self._process.send_signal(signal.SIGKILL)
            self._process.wait(timeout=START_S)

    def restart(self) -> None:
        self.kill()
        self.start()

    def log(self) -> str:
        path = self._root / "log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        self.kill()
        shutil.rmtree(self._root, ignore_errors=True)

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# Checks every 300 ms; a node is out after 2 failed checks and back after 1. A request that
# finds its node gone is sent to another (redispatch), as an office's balancer would.
_HAPROXY_CONFIG = """
global
    maxconn 2000
defaults
    mode http
    option redispatch
    retries 3
    timeout connect 2s
    timeout client 60s
    timeout server 60s
    timeout tunnel 1h
frontend chat
    bind 127.0.0.1:{port}
    default_backend nodes
backend nodes
    balance {balance}
    option httpchk GET /api/health
    default-server inter 300ms fall 2 rise 1
{servers}
"""


class HAProxy:
    """`with HAProxy([port, ...]) as lb: lb.url`: Debian's HAProxy in front of nodes on
    loopback, with health checks. `balance="first"`: every connection to the first node
    that is up (a test then knows where everyone is)."""

    def __init__(
        self, node_ports: list[int], *, balance: str = "roundrobin", port: int = 0
    ) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._root = Path(tempfile.mkdtemp(prefix="pychat-haproxy-"))
        servers = "\n".join(
            f"    server node{i} 127.0.0.1:{port} check" for i, port in enumerate(node_ports)
        )
        (self._root / "haproxy.cfg").write_text(
            _HAPROXY_CONFIG.format(port=self.port, servers=servers, balance=balance)
        )
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> HAProxy:
        binary = shutil.which("haproxy") or "/usr/sbin/haproxy"
        log = (self._root / "log").open("wb")
        self._process = subprocess.Popen(
            [binary, "-db", "-f", str(self._root / "haproxy.cfg")],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        process = self._process
        wait_until_sync(
            lambda: _reachable(self.port) or process.poll() is not None,
            what=f"haproxy listens on {self.port}",
            timeout=START_S,
        )
        assert process.poll() is None, f"haproxy exited:\n{self.log()}"
        return self

    def log(self) -> str:
        path = self._root / "log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        if self._process and self._process.poll() is None:
            self._process.terminate()
            self._process.wait(timeout=START_S)
        shutil.rmtree(self._root, ignore_errors=True)

    def __enter__(self) -> HAProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
