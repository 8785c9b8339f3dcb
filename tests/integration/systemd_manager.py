"""A systemd service manager for tests: the machine's own, or a private one.

When PID 1 is systemd, tests start transient units in it with `systemd-run`. Otherwise
(containers, CI sandboxes) they may get a private `systemd --user` manager, which applies
the same sandboxing (it runs as root), kept away from the host:

- its own mount namespace, with a fresh cgroup2 mount and a private /run/systemd;
- its own cgroup namespace, rooted at a new child of the test's cgroup2 cgroup, so it only
  ever sees (and moves) its own processes. Without that a manager that thinks it owns the
  root cgroup moves every process of the machine into its init.scope.

Everything it made is removed at close (cgroup.kill, then the cgroup directories).
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from tests.waiting import wait_until_sync

SYSTEMD = Path("/lib/systemd/systemd")
TOOLS = ("systemctl", "systemd-run", "unshare", "nsenter")


def pid1_is_systemd() -> bool:
    try:
        return Path("/proc/1/comm").read_text().strip() == "systemd"
    except OSError:
        return False


class Manager:
    """systemctl and systemd-run against one manager."""

    user = False
    # Units of a test manager have no basic.target to depend on.
    extra_properties: tuple[str, ...] = ()
    # Where StateDirectory= puts a unit's directory.
    state_root: Path
    # Where units may be installed, and a directory for sockets both sides can see.
    unit_dir: Path
    scratch: Path

    def _prefix(self) -> list[str]:
        return []

    def _env(self) -> dict[str, str]:
        return dict(os.environ)

    def command(
        self, tool: str, *args: str, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        argv = [*self._prefix(), tool, *(["--user"] if self.user else []), *args]
        return subprocess.run(
            argv, capture_output=True, text=True, timeout=timeout, env=self._env(), check=False
        )

    def systemctl(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return self.command("systemctl", *args, timeout=timeout)

    def run(
        self, unit: str, properties: list[str], argv: list[str], *, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        """Start `argv` as the transient `unit`; returns when the start job is done."""
        props = [f"--property={p}" for p in (*self.extra_properties, *properties)]
        return self.command("systemd-run", f"--unit={unit}", *props, "--", *argv, timeout=timeout)

    def show(self, unit: str, *names: str) -> dict[str, str]:
        done = self.systemctl("show", unit, *(f"--property={n}" for n in names))
        return dict(line.split("=", 1) for line in done.stdout.splitlines() if "=" in line)

    def wait_for(
        self,
        unit: str,
        name: str,
        values: set[str],
        timeout: float = 60,
        explain: Callable[[], str] | None = None,
    ) -> str:
        """Until the unit's property `name` is one of `values` (systemctl has no way to
        wait for a property, so this polls); returns that value."""
        seen = ""

        def reached() -> bool:
            nonlocal seen
            seen = self.show(unit, name).get(name, "")
            return seen in values

        wait_until_sync(
            reached,
            what=f"{unit} has {name} in {sorted(values)}",
            timeout=timeout,
            interval=0.2,
            explain=lambda: f"{name}={seen!r}\n" + (explain() if explain else ""),
        )
        return seen

    def cleanup_unit(self, unit: str) -> None:
        self.systemctl("stop", unit)
        self.systemctl("reset-failed", unit)

    def install_units(self, units: dict[str, str]) -> None:
        for name, text in units.items():
            (self.unit_dir / name).write_text(text)
        self.systemctl("daemon-reload")

    def remove_units(self, names: list[str]) -> None:
        for name in names:
            self.cleanup_unit(name)
            (self.unit_dir / name).unlink(missing_ok=True)
        self.systemctl("daemon-reload")

    def close(self) -> None:
        pass


class SystemManager(Manager):
    """The machine's own systemd (PID 1)."""

    state_root = Path("/var/lib")
    unit_dir = Path("/run/systemd/system")
    scratch = Path("/run")


class PrivateUserManager(Manager):
    """`systemd --user` in its own mount and cgroup namespaces (see the module docstring)."""

    user = True
    extra_properties = ("DefaultDependencies=no",)

    def __init__(self) -> None:
        # Not under /tmp: services have PrivateTmp=, yet must reach the notify socket in
        # $XDG_RUNTIME_DIR and their StateDirectory= in $XDG_STATE_HOME.
        self.home = Path("/run") / f"pychat-test-{os.getpid()}-{time.time_ns()}"
        self.runtime = self.home / "run"
        # StateDirectory= of a user unit is below $XDG_CONFIG_HOME up to systemd 253, and
        # $XDG_STATE_HOME after: point both at one place.
        self.state = self.home / "xdg"
        self.state_root = self.state
        self.units = self.home / "units"
        self.log = self.home / "manager.log"
        self.unit_dir = self.units
        self.scratch = self.home
        self.cgroup: Path | None = None
        self.process: subprocess.Popen[bytes] | None = None

    def _prefix(self) -> list[str]:
        assert self.process is not None
        return ["nsenter", f"--target={self.process.pid}", "--mount"]

    def _env(self) -> dict[str, str]:
        return {**os.environ, "XDG_RUNTIME_DIR": str(self.runtime)}

    def start(self) -> None:
        try:
            self._start()
        except BaseException:
            self.close()
            raise

    def _start(self) -> None:
        mount, own = _cgroup2()
        self.cgroup = Path(mount) / own.lstrip("/") / f"pychat-test-{os.getpid()}-{time.time_ns()}"
        # Traversable: a test service may run as another user (it must reach the notify
        # socket and its state directory).
        for d in (self.home, self.runtime, self.state, self.units):
            d.mkdir(mode=0o755)
        # exit.target is what a user manager starts on SIGTERM; with it, it exits cleanly.
        (self.units / "exit.target").write_text(
            "[Unit]\nDefaultDependencies=no\nSuccessAction=exit-force\n"
        )
        (self.units / "default.target").write_text("[Unit]\nDefaultDependencies=no\n")
        inner = " && ".join(
            [
                # Only a cgroup2 tree, and nothing hidden under it (read-only remounts of
                # /sys walk every mount below it).
                "umount -n --recursive --lazy /sys/fs/cgroup",
                "mount -n -t cgroup2 cgroup2 /sys/fs/cgroup",
                # /run must be a mount point, as on a booted system, or MountAPIVFS= (implied
                # by ProtectProc= and others) gives each service an empty /run.
                "mount -n --bind /run /run",
                "mount -n -t tmpfs tmpfs /run/systemd",
                "mkdir /run/systemd/system",
                # What PID 1 makes at boot and services' namespaces mount over hidden paths.
                "mkdir -m 0755 /run/systemd/inaccessible",
                "cd /run/systemd/inaccessible",
                "mkdir -m 0000 dir",
                "install -m 0000 /dev/null reg",
                "mkfifo -m 0000 fifo",
                "mknod -m 0000 chr c 0 0",
                "mknod -m 0000 blk b 0 0",
                "cd /",
                # Shared, as PID 1 makes it at boot (within this namespace: its peer groups
                # are new), so that mounts made later reach the services' namespaces.
                "mount -n --make-rshared /",
                f"exec {SYSTEMD} --user --log-target=console --log-level=notice",
            ]
        )
        # Enter the new cgroup first, then unshare the cgroup namespace rooted there.
        outer = (
            f"mkdir {shlex.quote(str(self.cgroup))} && "
            f"echo $$ > {shlex.quote(str(self.cgroup / 'cgroup.procs'))} && "
            f"exec unshare --cgroup sh -c {shlex.quote(inner)}"
        )
        env = {
            **os.environ,
            "XDG_RUNTIME_DIR": str(self.runtime),
            "XDG_STATE_HOME": str(self.state),
            "XDG_CONFIG_HOME": str(self.state),
            "SYSTEMD_UNIT_PATH": str(self.units),
        }
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                ["unshare", "--mount", "--propagation=private", "sh", "-c", outer],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        process = self.process
        private = self.runtime / "systemd" / "private"
        state = ""

        def listening() -> bool:
            if process.poll() is not None:
                raise RuntimeError(f"systemd --user exited: {self._log_tail()}")
            return private.exists()

        def running() -> bool:
            nonlocal state
            state = self.systemctl("is-system-running").stdout.strip()
            return state in ("running", "degraded")

        try:
            wait_until_sync(listening, what="systemd --user listens", explain=self._log_tail)
            wait_until_sync(
                running,
                what="systemd --user is running",
                interval=0.1,
                explain=lambda: f"it is {state!r}: {self._log_tail()}",
            )
        except AssertionError as e:  # the fixtures skip on RuntimeError: no manager here
            raise RuntimeError(str(e)) from None
        # As PID 1's /run/systemd/notify: services of any user may notify.
        (self.runtime / "systemd" / "notify").chmod(0o777)

    def _log_tail(self) -> str:
        try:
            return self.log.read_text(errors="replace")[-2000:]
        except OSError:
            return ""

    def close(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=10)
        if self.cgroup is not None and self.cgroup.exists():
            kill = self.cgroup / "cgroup.kill"
            if kill.exists():
                kill.write_text("1")
            cgroup = self.cgroup
            wait_until_sync(
                lambda: not _has_processes(cgroup),
                what="every process of the private manager's cgroup is gone",
                timeout=10,
            )
            for d in sorted(self.cgroup.rglob("*"), key=lambda p: len(p.parts), reverse=True):
                if d.is_dir():
                    d.rmdir()
            self.cgroup.rmdir()
        if self.process is not None:
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.home, ignore_errors=True)


def _has_processes(cgroup: Path) -> bool:
    return any(
        (d / "cgroup.procs").read_text().strip() for d in [cgroup, *cgroup.rglob("*")] if d.is_dir()
    )


def _cgroup2() -> tuple[str, str]:
    """(where cgroup2 is mounted, this process's cgroup2 path); raises if there is none."""
    mount = next(
        (
            line.split()[1]
            for line in Path("/proc/self/mounts").read_text().splitlines()
            if line.split()[2] == "cgroup2"
        ),
        None,
    )
    own = next(
        (
            line.split(":", 2)[2]
            for line in Path("/proc/self/cgroup").read_text().splitlines()
            if line.startswith("0::")
        ),
        None,
    )
    if mount is None or own is None:
        raise RuntimeError("no cgroup2 hierarchy")
    return mount, own


def unavailable_reason() -> str | None:
    """Why no manager can be had here, or None."""
    if pid1_is_systemd():
        return None
    if os.geteuid() != 0:
        return "PID 1 is not systemd, and a private systemd manager needs root"
    missing = [t for t in TOOLS if shutil.which(t) is None]
    if missing or not SYSTEMD.exists():
        return f"PID 1 is not systemd, and {missing or [str(SYSTEMD)]} is missing"
    try:
        mount, own = _cgroup2()
    except (OSError, RuntimeError):
        return "PID 1 is not systemd, and there is no cgroup2 hierarchy for a private manager"
    if not os.access(Path(mount) / own.lstrip("/"), os.W_OK):
        return "PID 1 is not systemd, and this cgroup2 cgroup is not writable"
    return None


def open_manager() -> Manager:
    if pid1_is_systemd():
        return SystemManager()
    manager = PrivateUserManager()
    manager.start()
    return manager
