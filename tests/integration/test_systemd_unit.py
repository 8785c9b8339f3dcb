"""systemd/: the units verify, score "OK" or better, and the service runs under systemd.

The static checks need only `systemd-analyze` (Debian: the `systemd` package). The live
checks start a transient copy of pychat.service, with every sandboxing setting kept, in
PID 1 when it is systemd, else in a private `systemd --user` manager (tests/integration/
systemd_manager.py); they are skipped, with the reason, when neither is possible.
"""

from __future__ import annotations

import grp
import http.client
import json
import os
import pwd
import re
import shutil
import socket
import ssl
import stat
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import appliance.__main__
from appliance.privileged.__main__ import _parser as helper_parser
from tests.integration.systemd_manager import (
    Manager,
    PrivateUserManager,
    open_manager,
    unavailable_reason,
)
from tests.waiting import wait_until_sync

REPO = Path(__file__).resolve().parents[2]
UNITS = REPO / "systemd"
SERVICES = ["pychat.service", "pychat-helper@.service", "pychat-claim-code.service"]
ALL_UNITS = [*SERVICES, "pychat-helper.socket", "pychat-claim-code.path"]
PROBE = Path(__file__).with_name("systemd_probe.py")
VENV_BIN = Path(sys.executable).parent
# Places the unit's sandbox hides (ProtectHome=, PrivateTmp=): a checkout or interpreter
# there (CI may clone under /tmp) is bound back in, read-only.
HIDDEN = ("/root", "/home", "/run/user", "/tmp", "/var/tmp")
GOOD_LEVELS = {"PERFECT", "SAFE", "OK"}

needs_analyze = pytest.mark.skipif(
    shutil.which("systemd-analyze") is None,
    reason="systemd-analyze is missing (Debian: apt-get install systemd)",
)


def parse_unit(path: Path) -> dict[str, list[tuple[str, str]]]:
    """{section: [(key, value), ...]} in file order; comments and blank lines dropped."""
    sections: dict[str, list[tuple[str, str]]] = {}
    current = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            current = line.strip("[]")
            sections.setdefault(current, [])
            continue
        key, _, value = line.partition("=")
        sections[current].append((key.strip(), value.strip()))
    return sections


def settings(path: Path, section: str = "Service") -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for key, value in parse_unit(path)[section]:
        out.setdefault(key, []).append(value)
    return out


# --- static: verify, security, contract -------------------------------------------------


@pytest.fixture(scope="module")
def fake_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A root for `systemd-analyze --root`: the distribution's units, ours, and stand-ins
    for the programs our units start (verify checks that ExecStart= is executable)."""
    root = tmp_path_factory.mktemp("root")
    system = next(
        (p for p in (Path("/usr/lib/systemd/system"), Path("/lib/systemd/system")) if p.is_dir()),
        None,
    )
    if system is None:
        pytest.skip("no systemd unit directory on this machine")
    shutil.copytree(system, root / "usr/lib/systemd/system", symlinks=True)
    ours = root / "etc/systemd/system"
    ours.mkdir(parents=True)
    for name in ALL_UNITS:
        shutil.copy(UNITS / name, ours / name)
    bin_dir = root / "opt/pychat/bin"
    bin_dir.mkdir(parents=True)
    for program in ("pychat", "python"):
        (bin_dir / program).write_text("#!/bin/sh\n")
        (bin_dir / program).chmod(0o755)
    return root


@needs_analyze
@pytest.mark.parametrize("unit", [*ALL_UNITS, "pychat-helper@0.service"])
def test_systemd_analyze_verify_passes(fake_root: Path, unit: str) -> None:
    done = subprocess.run(
        [
            "systemd-analyze",
            "verify",
            "--man=no",
            f"--root={fake_root}",
            f"/etc/systemd/system/{unit}",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    # Unknown keys are only warnings (exit 0), so any output at all fails the test.
    assert done.returncode == 0 and not done.stderr.strip() and not done.stdout.strip(), (
        done.stdout + done.stderr
    )


@needs_analyze
def test_verify_catches_mistakes(fake_root: Path) -> None:
    """The check above can fail: a typo and a missing program are both reported."""
    broken = fake_root / "etc/systemd/system/broken.service"
    text = (UNITS / "pychat.service").read_text()
    broken.write_text(
        text.replace("UMask=0077", "UMask=0077\nProtectSystm=yes").replace(
            "/opt/pychat/bin/pychat serve", "/opt/pychat/bin/missing serve"
        )
    )
    done = subprocess.run(
        [
            "systemd-analyze",
            "verify",
            "--man=no",
            f"--root={fake_root}",
            "/etc/systemd/system/broken.service",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    broken.unlink()
    assert "ProtectSystm" in done.stderr
    assert done.returncode != 0 and "missing" in done.stderr


@needs_analyze
@pytest.mark.parametrize("unit", SERVICES)
def test_security_exposure_is_ok_or_better(
    unit: str, record_property: Callable[[str, object], None]
) -> None:
    done = subprocess.run(
        ["systemd-analyze", "security", "--offline=yes", str(UNITS / unit)],
        capture_output=True,
        text=True,
        check=False,
    )
    match = re.search(r"Overall exposure level for \S+: ([0-9.]+) (\w+)", done.stdout)
    assert match, done.stdout + done.stderr
    score, level = float(match[1]), match[2]
    record_property("exposure", f"{score} {level}")
    print(f"{unit}: exposure {score} {level}")
    assert level in GOOD_LEVELS, f"{unit}: {score} {level}\n{done.stdout}"


def test_pychat_service_keeps_its_contract() -> None:
    """The settings docs/operations.md and issue #4 promise, in the shipped unit."""
    s = settings(UNITS / "pychat.service")
    one = {k: v[-1] for k, v in s.items()}
    assert one["Type"] == "notify" and one["NotifyAccess"] == "main"
    assert one["WatchdogSec"] and one["Restart"] == "on-failure"
    assert one["User"] == one["Group"] == "pychat"
    assert one["StateDirectory"] == "pychat"
    assert one["ExecStart"] == "/opt/pychat/bin/pychat serve"
    assert {"PYCHAT_DATA=/var/lib/pychat", "PYCHAT_SERVER_MODE=appliance"} <= set(s["Environment"])
    assert one["AmbientCapabilities"] == one["CapabilityBoundingSet"] == "CAP_NET_BIND_SERVICE"
    for key in (
        "NoNewPrivileges",
        "PrivateTmp",
        "PrivateDevices",
        "ProtectHome",
        "ProtectKernelTunables",
        "ProtectKernelModules",
        "ProtectKernelLogs",
        "ProtectControlGroups",
        "ProtectClock",
        "ProtectHostname",
        "RestrictNamespaces",
        "RestrictRealtime",
        "RestrictSUIDSGID",
        "LockPersonality",
        "MemoryDenyWriteExecute",
    ):
        assert one[key] == "yes", key
    assert one["ProtectSystem"] == "strict"
    assert one["RestrictAddressFamilies"].split() == [
        "AF_UNIX",
        "AF_INET",
        "AF_INET6",
        "AF_NETLINK",
    ]
    assert s["SystemCallFilter"][0] == "@system-service"
    assert one["SystemCallArchitectures"] == "native" and one["UMask"] == "0077"


def test_helper_units_match_the_helper() -> None:
    sock = settings(UNITS / "pychat-helper.socket", "Socket")
    assert sock["ListenStream"] == ["/run/pychat-helper.sock"]
    assert sock["SocketUser"] == ["root"] and sock["SocketGroup"] == ["pychat"]
    assert sock["SocketMode"] == ["0660"] and sock["Accept"] == ["yes"]
    for unit, sub in (
        ("pychat-helper@.service", "serve-connection"),
        ("pychat-claim-code.service", "sync-claim-code"),
    ):
        exec_start = settings(UNITS / unit)["ExecStart"][0].split()
        assert exec_start[:4] == ["/opt/pychat/bin/python", "-I", "-m", "appliance.privileged"]
        assert exec_start[4] == sub
        helper_parser().parse_args(exec_start[4:])  # the options exist


def test_sysusers_creates_the_pychat_account(tmp_path: Path) -> None:
    if shutil.which("systemd-sysusers") is None:
        pytest.skip("systemd-sysusers is missing")
    etc = tmp_path / "etc"
    etc.mkdir()
    for name in ("passwd", "group", "shadow", "gshadow"):
        (etc / name).touch()
    subprocess.run(
        ["systemd-sysusers", f"--root={tmp_path}", str(UNITS / "pychat.sysusers")],
        check=True,
        capture_output=True,
    )
    user = next(
        line for line in (etc / "passwd").read_text().splitlines() if line.startswith("pychat:")
    )
    name, _, uid, gid, _, home, shell = user.split(":")
    assert int(uid) < 1000 and home == "/var/lib/pychat" and shell == "/usr/sbin/nologin"
    assert f"pychat:x:{gid}:" in (etc / "group").read_text()


# --- live: a transient copy of pychat.service under a real manager ----------------------

live = pytest.mark.skipif(
    unavailable_reason() is not None, reason=unavailable_reason() or "no systemd manager"
)


@pytest.fixture(scope="module")
def manager() -> Iterator[Manager]:
    try:
        m = open_manager()
    except (RuntimeError, OSError, subprocess.SubprocessError) as e:
        pytest.skip(f"cannot start a systemd manager here: {e}")
    yield m
    m.close()


def free_port(preferred: range) -> int:
    for port in preferred:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def transient_copy(
    manager: Manager, name: str, log: Path, *, mode: str = "development", **overrides: str
) -> list[str]:
    """pychat.service's [Service] settings as properties for `systemd-run`, changed only
    where a test copy must differ: not User=pychat (no such account here) but nobody, its
    own state directory, development mode, and the interpreter reachable if it lives in a
    home directory."""
    nobody = pwd.getpwnam("nobody")
    state_dir = manager.state_root / name
    binds = sorted(
        p for p in {sys.base_prefix, str(REPO), str(VENV_BIN.parent)} if p.startswith(HIDDEN)
    )
    if binds:
        overrides.setdefault("ProtectHome", "tmpfs")  # hides homes, but can show these
    props: list[str] = []
    for key, value in parse_unit(UNITS / "pychat.service")["Service"]:
        if key in ("ExecStart", "User", "Group") or key in overrides:
            continue
        if key in ("StateDirectory", "ConfigurationDirectory"):
            value = name
        value = value.replace("/var/lib/pychat", str(state_dir))
        value = value.replace("PYCHAT_SERVER_MODE=appliance", f"PYCHAT_SERVER_MODE={mode}")
        props.append(f"{key}={value}")
    props += [f"User={nobody.pw_name}", f"Group={nobody.pw_gid}"]
    props += [f"BindReadOnlyPaths={p}" for p in binds]
    if os.environ.get("PYTHONPATH"):  # the service runs the code the test imports
        paths = os.environ["PYTHONPATH"].split(":")
        props.append(f"Environment=PYTHONPATH={':'.join(paths)}")
        props += [f"BindReadOnlyPaths={p}" for p in paths if p]
    props += [f"{k}={v}" for k, v in overrides.items()]
    props += [f"StandardOutput=append:{log}", f"StandardError=append:{log}"]
    return props


def home_binds() -> list[str]:
    """The interpreter or the checkout, if ProtectHome= would hide them (pyenv, ~/src)."""
    paths = {sys.base_prefix, str(REPO), str(VENV_BIN.parent)}
    return sorted(p for p in paths if p.startswith(HIDDEN))


def proc_status(pid: str) -> dict[str, str]:
    lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    return dict(line.split(":\t", 1) for line in lines if ":\t" in line)


@live
def test_the_sandboxed_service_starts_notifies_and_stops(manager: Manager, tmp_path: Path) -> None:
    """The real application under every setting of pychat.service, as an unprivileged
    user on a port below 1024: active only after READY=1, watchdog pings arriving, only
    CAP_NET_BIND_SERVICE, no new privileges; SIGTERM stops it cleanly."""
    name = f"pychat-test-{time.time_ns()}"
    unit = f"{name}.service"
    log = tmp_path / "service.log"
    port = free_port(range(443, 1024))
    props = transient_copy(manager, name, log, WatchdogSec="2", TimeoutStartSec="60")
    try:
        done = manager.run(
            name, props, [str(VENV_BIN / "python"), str(PROBE), "--listen", f"127.0.0.1:{port}"]
        )
        assert done.returncode == 0, done.stderr + _read(log)
        shown = manager.show(
            unit, "ActiveState", "SubState", "StatusText", "MainPID", "WatchdogTimestampMonotonic"
        )
        assert shown["ActiveState"] == "active" and shown["SubState"] == "running", shown
        assert shown["StatusText"] == f"Serving on http://127.0.0.1:{port}"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=10) as r:
            assert r.status == 200
        status = proc_status(shown["MainPID"])
        assert status["Uid"].split()[0] == str(pwd.getpwnam("nobody").pw_uid)
        assert int(status["CapEff"], 16) == 1 << 10  # CAP_NET_BIND_SERVICE only
        assert int(status["CapBnd"], 16) == 1 << 10
        assert status["NoNewPrivs"] == "1" and status["Seccomp"] == "2"
        # Pings every WatchdogSec/2: the manager's last-ping timestamp moves on.
        before = shown["WatchdogTimestampMonotonic"]

        def pinged() -> bool:
            now = manager.show(unit, "WatchdogTimestampMonotonic")
            return now.get("WatchdogTimestampMonotonic", before) != before

        wait_until_sync(pinged, what="a watchdog ping arrives", timeout=5, interval=0.1)
        stop = manager.systemctl("stop", unit)
        assert stop.returncode == 0, stop.stderr
        after = manager.show(unit, "ActiveState", "Result")
        assert after.get("ActiveState", "inactive") == "inactive"
        assert after.get("Result", "success") == "success", after
        assert "probe stopped" in _read(log)
    finally:
        manager.cleanup_unit(unit)
        shutil.rmtree(manager.state_root / name, ignore_errors=True)


@live
def test_the_watchdog_kills_a_stuck_event_loop(manager: Manager, tmp_path: Path) -> None:
    """Pings come from the event loop: when it blocks, they stop and systemd steps in."""
    name = f"pychat-test-{time.time_ns()}"
    unit = f"{name}.service"
    log = tmp_path / "service.log"
    port = free_port(range(0))
    props = transient_copy(manager, name, log, WatchdogSec="2", Restart="no", TimeoutStartSec="60")
    argv = [
        str(VENV_BIN / "python"),
        str(PROBE),
        "--listen",
        f"127.0.0.1:{port}",
        "--wedge-after",
        "1",
    ]
    try:
        done = manager.run(name, props, argv)
        assert done.returncode == 0, done.stderr + _read(log)
        manager.wait_for(unit, "Result", {"watchdog"}, timeout=20, explain=lambda: _read(log))
    finally:
        manager.cleanup_unit(unit)
        shutil.rmtree(manager.state_root / name, ignore_errors=True)


def needs_ready_wiring() -> None:
    if "notify_ready" not in Path(appliance.__main__.__file__).read_text():
        pytest.skip("pychat serve does not send READY=1 yet (wiring in the systemd report)")


@live
def test_pychat_serve_becomes_active_under_systemd(manager: Manager, tmp_path: Path) -> None:
    """`pychat serve` itself (development mode, a free loopback port) as Type=notify."""
    needs_ready_wiring()
    name = f"pychat-test-{time.time_ns()}"
    unit = f"{name}.service"
    log = tmp_path / "service.log"
    port = free_port(range(0))
    props = transient_copy(manager, name, log, TimeoutStartSec="60")
    try:
        argv = [str(VENV_BIN / "pychat"), "serve", "--listen", f"127.0.0.1:{port}"]
        done = manager.run(name, props, argv)
        assert done.returncode == 0, done.stderr + _read(log)
        assert manager.show(unit, "ActiveState")["ActiveState"] == "active"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=10) as r:
            assert r.status == 200
        assert manager.systemctl("stop", unit).returncode == 0
        assert manager.show(unit, "Result").get("Result", "success") == "success"
    finally:
        manager.cleanup_unit(unit)
        shutil.rmtree(manager.state_root / name, ignore_errors=True)


@live
def test_pychat_serve_in_appliance_mode_under_systemd(manager: Manager, tmp_path: Path) -> None:
    """The shipped configuration: appliance mode, HTTPS and HTTP on low ports as an
    unprivileged user, the certificate made at first start. Loopback only, mDNS off."""
    needs_ready_wiring()
    name = f"pychat-test-{time.time_ns()}"
    unit = f"{name}.service"
    log = tmp_path / "service.log"
    https_port = free_port(range(443, 1024))
    http_port = free_port(range(80, 443))
    props = transient_copy(manager, name, log, mode="appliance", TimeoutStartSec="120")
    props += [
        "Environment=PYCHAT_DISCOVERY_MDNS=off",
        f"Environment=PYCHAT_SERVER_HTTPS_LISTEN=127.0.0.1:{https_port}",
        f"Environment=PYCHAT_SERVER_HTTP_LISTEN=127.0.0.1:{http_port}",
    ]
    try:
        done = manager.run(name, props, [str(VENV_BIN / "pychat"), "serve"])
        assert done.returncode == 0, done.stderr + _read(log)
        shown = manager.show(unit, "ActiveState", "StatusText")
        assert shown["ActiveState"] == "active", shown
        assert shown["StatusText"].startswith("Serving on https://"), shown
        unverified = ssl.create_default_context()
        unverified.check_hostname = False
        unverified.verify_mode = ssl.CERT_NONE  # the chain is tests/unit/test_tls.py's job
        url = f"https://127.0.0.1:{https_port}/api/health"
        with urllib.request.urlopen(url, timeout=10, context=unverified) as r:
            assert r.status == 200
        plain = http.client.HTTPConnection("127.0.0.1", http_port, timeout=10)
        plain.request("GET", "/")
        assert plain.getresponse().getheader("Location", "").startswith("https://")
        plain.close()
        assert manager.systemctl("stop", unit).returncode == 0
        assert manager.show(unit, "Result").get("Result", "success") == "success"
    finally:
        manager.cleanup_unit(unit)
        shutil.rmtree(manager.state_root / name, ignore_errors=True)


@live
def test_the_helper_socket_starts_one_sandboxed_instance_per_request(
    manager: Manager, tmp_path: Path
) -> None:
    """pychat-helper.socket and pychat-helper@.service as shipped (sandbox included), but
    with --dry-run: systemd hands each connection to a fresh root instance, which checks
    the caller's uid, answers and exits."""
    name = f"pychat-helper-test-{time.time_ns()}"
    path = manager.scratch / f"{name}.sock"
    log = tmp_path / "helper.log"
    nogroup = grp.getgrgid(pwd.getpwnam("nobody").pw_gid).gr_name
    extra_unit = "DefaultDependencies=no\n" if manager.user else ""
    socket_text = "[Unit]\n" + extra_unit + "[Socket]\n"
    for key, value in parse_unit(UNITS / "pychat-helper.socket")["Socket"]:
        if key == "ListenStream":
            value = str(path)
        if key == "SocketGroup":
            value = nogroup
        socket_text += f"{key}={value}\n"
    service_text = "[Unit]\n" + extra_unit + "[Service]\n"
    binds = home_binds()
    for key, value in parse_unit(UNITS / "pychat-helper@.service")["Service"]:
        if key == "ExecStart":
            # Only root may ask (no such account as the allowed one); change nothing.
            value = (
                f"{VENV_BIN / 'python'} -I -m appliance.privileged serve-connection"
                " --dry-run --allow-user pychat-no-such-user"
            )
        if key == "ProtectHome" and binds:
            value = "tmpfs"
        service_text += f"{key}={value}\n"
    service_text += "".join(f"BindReadOnlyPaths={p}\n" for p in binds)
    service_text += f"StandardOutput=append:{log}\nStandardError=append:{log}\n"
    units = {f"{name}.socket": socket_text, f"{name}@.service": service_text}
    manager.install_units(units)
    try:
        started = manager.systemctl("start", f"{name}.socket")
        assert started.returncode == 0, started.stderr
        assert stat.S_IMODE(path.stat().st_mode) == 0o660
        for _ in range(2):  # each request, its own instance
            reply = ask_helper(path, b'{"command": "set-hostname", "args": ["office"]}\n')
            assert reply == {
                "ok": True,
                "message": "dry run: run hostnamectl set-hostname office; edit /etc/hosts",
            }, _read(log)
        refused = ask_helper(path, b'{"command": "reboot", "args": []}\n', as_user="nobody")
        assert refused["error"] == "forbidden", _read(log)
        text = _read(log)
        assert text.count("uid 0: set-hostname office") == 2
        assert "refused a connection from uid" in text
    finally:
        manager.remove_units(list(units))


@live
def test_the_claim_code_follows_its_file_to_the_boot_partition(
    manager: Manager, tmp_path: Path
) -> None:
    """pychat-claim-code.path and .service as shipped, on stand-in folders: the code appears
    on the "boot partition" when the server writes it (in its own 0700 folder, a file only
    it may read) and goes away when setup destroys it."""
    name = f"pychat-claim-test-{time.time_ns()}"
    nobody = pwd.getpwnam("nobody")
    data = manager.scratch / f"{name}-data"
    boot = manager.scratch / f"{name}-boot"
    data.mkdir(mode=0o700)
    boot.mkdir()
    os.chown(data, nobody.pw_uid, nobody.pw_gid)
    source, dest = data / "claim-code.txt", boot / "pychat-claim-code.txt"
    log = tmp_path / "claim.log"
    extra_unit = "DefaultDependencies=no\n" if manager.user else ""
    path_text = f"[Unit]\n{extra_unit}[Path]\nPathChanged={source}\nUnit={name}.service\n"
    binds = home_binds()
    service_text = f"[Unit]\n{extra_unit}[Service]\n"
    for key, value in parse_unit(UNITS / "pychat-claim-code.service")["Service"]:
        if key == "ExecStart":
            value = (
                f"{VENV_BIN / 'python'} -I -m appliance.privileged sync-claim-code"
                f" --source {source} --dest {dest} --owner {nobody.pw_name}"
            )
        if key == "ReadWritePaths":
            value = f"-{boot}"
        if key == "ProtectHome" and binds:
            value = "tmpfs"
        service_text += f"{key}={value}\n"
    service_text += "".join(f"BindReadOnlyPaths={p}\n" for p in binds)
    service_text += f"StandardOutput=append:{log}\nStandardError=append:{log}\n"
    units = {f"{name}.path": path_text, f"{name}.service": service_text}
    manager.install_units(units)
    try:
        assert manager.systemctl("start", f"{name}.path").returncode == 0
        # As the server writes it: a temporary file renamed into place, mode 0400.
        tmp = data / "claim-code.txt.tmp"
        tmp.write_text("ABCD-EFGH\n")
        tmp.chmod(0o400)
        os.chown(tmp, nobody.pw_uid, nobody.pw_gid)
        tmp.rename(source)
        wait_until_sync(dest.exists, what="the code is copied", explain=lambda: _read(log))
        assert dest.read_text().startswith("Pychat claim code: ABCD-EFGH\n")
        # (A change while the copy runs would only be seen by its own re-check.)
        manager.wait_for(f"{name}.service", "ActiveState", {"inactive", "failed"})
        source.unlink()
        wait_until_sync(
            lambda: not dest.exists(), what="the copy is removed", explain=lambda: _read(log)
        )
    finally:
        manager.remove_units(list(units))
        shutil.rmtree(data, ignore_errors=True)
        shutil.rmtree(boot, ignore_errors=True)


@live
def test_backup_drives_are_writable_whenever_they_were_mounted(
    manager: Manager, tmp_path: Path
) -> None:
    """USB drives under /media and /mnt take scheduled backups (appliance/backup/usb.py):
    the service may write there whether a drive was mounted before it started or after,
    and still nowhere else. The drives are tmpfs mounted in the private manager's own
    mount namespace, never on the machine."""
    if not isinstance(manager, PrivateUserManager):
        pytest.skip("mounts a stand-in drive, which only the private manager allows")
    nobody = pwd.getpwnam("nobody")
    name = f"pychat-test-{time.time_ns()}"
    log = tmp_path / "drives.log"

    def in_manager(script: str) -> None:
        assert manager.process is not None
        subprocess.run(
            ["nsenter", f"--target={manager.process.pid}", "--mount", "sh", "-ec", script],
            check=True,
        )

    def drive(mount_point: str) -> str:
        return (
            f"mount -n -t tmpfs tmpfs {mount_point} && mkdir -p {mount_point}/usb/pychat-backups"
            f" && chown {nobody.pw_uid} {mount_point}/usb/pychat-backups"
        )

    check = (
        "while true; do for d in /media/usb /mnt/usb; do"
        " if touch $d/pychat-backups/ok 2>/dev/null; then echo $d:writable;"
        " else echo $d:no; fi; done;"
        " touch /etc/pychat-probe 2>/dev/null && echo /etc:writable; sleep 0.2; done"
    )
    props = transient_copy(manager, name, log, Type="exec", WatchdogSec="0")
    in_manager(drive("/media"))  # before the service starts
    try:
        done = manager.run(name, props, ["/bin/sh", "-c", check])
        assert done.returncode == 0, done.stderr + _read(log)
        in_manager(drive("/mnt"))  # after
        wait_until_sync(
            lambda: "/mnt/usb:writable" in _read(log),
            what="the drive mounted later is writable",
            explain=lambda: _read(log),
        )
        assert "/media/usb:writable" in _read(log)
        assert "/etc:writable" not in _read(log)
    finally:
        manager.cleanup_unit(f"{name}.service")
        in_manager("umount -n /media; umount -n /mnt")
        shutil.rmtree(manager.state_root / name, ignore_errors=True)


def ask_helper(path: Path, request: bytes, as_user: str | None = None) -> dict[str, object]:
    """One request to the helper socket, as root or (in a forked child) as `as_user`."""
    if as_user is None:
        return _exchange(path, request)
    user = pwd.getpwnam(as_user)
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: drop to the user, ask, hand the answer back, exit
        try:
            os.close(read_end)
            os.setgroups([])
            os.setgid(user.pw_gid)
            os.setuid(user.pw_uid)
            os.write(write_end, json.dumps(_exchange(path, request)).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        data = pipe.read()
    os.waitpid(pid, 0)
    answer: dict[str, object] = json.loads(data)
    return answer


def _exchange(path: Path, request: bytes) -> dict[str, object]:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.settimeout(60)
        conn.connect(str(path))
        conn.sendall(request)
        answer: dict[str, object] = json.loads(conn.makefile("rb").readline())
        return answer


def _read(path: Path) -> str:
    return path.read_text(errors="replace") if path.exists() else ""
