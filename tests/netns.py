"""Throwaway network namespaces joined by veth pairs, for tests that need several hosts.

A namespace here is held open by a process (`unshare --net`), not by a name under
/run/netns, so nothing global is created and it works the same from inside `unshare -n`
(where `ip netns add` would bind-mount /run/netns in the host's mount namespace). Commands
and programs run inside with `nsenter --net=/proc/<pid>/ns/net`. A veth pair is created
inside one namespace with its peer placed straight into the other (`netns <pid>`): no
interface ever appears in the caller's namespace. When the holder exits (on `close()`, or
when pytest dies and its stdin closes) the namespace goes away with every veth and bridge
in it, once the programs started inside have exited too.
"""

from __future__ import annotations

import os
import select
import shutil
import subprocess
import time
from collections.abc import Sequence

TIMEOUT_S = 10.0


class NetnsUnavailable(RuntimeError):
    """This machine cannot make network namespaces (not root, no tools, no permission)."""


def unavailable_reason() -> str | None:
    """Why namespaces cannot be used here, or None."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    missing = [tool for tool in ("unshare", "nsenter", "ip") if shutil.which(tool) is None]
    if missing:
        return f"missing {', '.join(missing)}"
    try:
        Netns("probe").close()
    except (NetnsUnavailable, OSError, subprocess.SubprocessError) as e:
        return f"cannot create a network namespace: {e}"
    return None


def _own_netns() -> str:
    return os.readlink("/proc/self/ns/net")


class Netns:
    """One network namespace with loopback up; `close()` ends it."""

    def __init__(self, label: str) -> None:
        self.label = label
        self._holder = subprocess.Popen(
            ["unshare", "--net", "--", "sh", "-c", "ip link set lo up && echo ready && exec cat"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        try:
            line = _readline(self._holder, TIMEOUT_S)
            if line.strip() != b"ready":
                err = self._holder.stderr.read() if self._holder.stderr else b""
                raise NetnsUnavailable(err.decode(errors="replace").strip() or "holder failed")
            # Never configure the caller's own namespace by mistake.
            if os.readlink(self.path) == _own_netns():
                raise NetnsUnavailable("the holder did not get a namespace of its own")
        except BaseException:
            self.close()
            raise

    @property
    def pid(self) -> int:
        return self._holder.pid

    @property
    def path(self) -> str:
        return f"/proc/{self.pid}/ns/net"

    def command(self, args: Sequence[str]) -> list[str]:
        """`args` as a command that runs inside this namespace."""
        return ["nsenter", f"--net={self.path}", "--", *args]

    def run(self, *args: str) -> str:
        done = subprocess.run(
            self.command(args), capture_output=True, text=True, timeout=TIMEOUT_S, check=False
        )
        if done.returncode != 0:
            raise NetnsUnavailable(f"{self.label}: {' '.join(args)}: {done.stderr.strip()}")
        return done.stdout

    def ip(self, *args: str) -> str:
        return self.run("ip", *args)

    def configure(self, ifname: str, *addresses: str) -> None:
        """Addresses (CIDR), link up, and a multicast route (224.0.0.0/4) on `ifname`."""
        for cidr in addresses:
            extra = ["nodad"] if ":" in cidr else []  # no duplicate address detection delay
            self.ip("addr", "add", cidr, "dev", ifname, *extra)
        self.ip("link", "set", ifname, "up")
        self.ip("route", "add", "224.0.0.0/4", "dev", ifname)

    def close(self) -> None:
        holder = self._holder
        if holder.stdin is not None and not holder.stdin.closed:
            holder.stdin.close()
        try:
            holder.wait(timeout=5)
        except subprocess.TimeoutExpired:
            holder.kill()
            holder.wait(timeout=5)
        for stream in (holder.stdout, holder.stderr):
            if stream is not None:
                stream.close()


def veth(a: Netns, a_if: str, b: Netns, b_if: str) -> None:
    """A veth pair `a_if` in `a` and `b_if` in `b` (both down, no address)."""
    a.ip("link", "add", a_if, "type", "veth", "peer", "name", b_if, "netns", str(b.pid))


def bridge(ns: Netns, name: str, *ports: str) -> None:
    """A bridge in `ns` over `ports`, forwarding all multicast (no IGMP snooping)."""
    ns.ip("link", "add", name, "type", "bridge", "mcast_snooping", "0")
    for port in ports:
        ns.ip("link", "set", port, "master", name)
        ns.ip("link", "set", port, "up")


def _readline(proc: subprocess.Popen[bytes], timeout: float) -> bytes:
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    fd = proc.stdout.fileno()
    data = b""
    while not data.endswith(b"\n"):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise NetnsUnavailable("the namespace holder did not start in time")
        ready, _, _ = select.select([fd], [], [], remaining)
        if ready:
            chunk = os.read(fd, 1)
            if not chunk:
                break
            data += chunk
    return data
