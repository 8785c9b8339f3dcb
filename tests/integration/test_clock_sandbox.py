"""Who may ask the kernel about the clock, under the shipped sandboxes (a real systemd).

The root helper's sandbox (pychat-helper@.service) must let set-clock read the kernel's
"synchronised?" state (adjtimex through ctypes, under MemoryDenyWriteExecute= and its
system-call filter); the server's (pychat.service, ProtectClock=yes) refuses even that
read, which is why the server asks timesyncd's flag file instead (appliance/system/clock.py).
Nothing here sets the clock.
"""

from __future__ import annotations

import time
from pathlib import Path

from tests.integration.systemd_manager import Manager
from tests.integration.test_systemd_unit import (
    UNITS,
    VENV_BIN,
    home_binds,
    live,
    manager,  # noqa: F401 (a fixture)
    parse_unit,
    transient_copy,
)

PROBE = "from appliance.system.clock import kernel_synchronized as k; print('kernel says', k())"


def _run(systemd: Manager, name: str, props: list[str], log: Path) -> str:
    argv = [str(VENV_BIN / "python"), "-I", "-c", PROBE]
    try:
        started = systemd.run(name, [*props, "Type=oneshot"], argv)
        assert started.returncode == 0, started.stderr + log.read_text()
        return log.read_text()
    finally:
        systemd.cleanup_unit(name)


@live
def test_the_helpers_sandbox_can_read_the_kernels_clock_state(
    manager: Manager,  # noqa: F811
    tmp_path: Path,
) -> None:
    log = tmp_path / "helper.log"
    props: list[str] = []
    for key, value in parse_unit(UNITS / "pychat-helper@.service")["Service"]:
        if key in ("ExecStart", "Type"):
            continue
        props.append(f"{key}={value}")
    binds = home_binds()
    if binds:
        props = [p for p in props if not p.startswith("ProtectHome=")] + ["ProtectHome=tmpfs"]
        props += [f"BindReadOnlyPaths={p}" for p in binds]
    props += [f"StandardOutput=append:{log}", f"StandardError=append:{log}"]
    out = _run(manager, f"pychat-clock-helper-{time.time_ns()}", props, log)
    assert "kernel says True" in out or "kernel says False" in out, out


@live
def test_the_servers_sandbox_cannot_ask_the_kernel(
    manager: Manager,  # noqa: F811
    tmp_path: Path,
) -> None:
    log = tmp_path / "server.log"
    name = f"pychat-clock-server-{time.time_ns()}"
    props = transient_copy(manager, name, log, Type="oneshot", NotifyAccess="none", WatchdogSec="0")
    out = _run(manager, name, props, log)
    assert "kernel says None" in out, out
