"""The image's first-boot units and scripts: systemd accepts the units, the shell
scripts parse, and every unit the image ships is enabled by the build."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
OVERLAY = REPO / "image/overlay"
IMAGE_UNITS = sorted(p.name for p in (OVERLAY / "usr/lib/systemd/system").iterdir())
SCRIPTS = [
    REPO / "image/build",
    *sorted((REPO / "image/stages").iterdir()),
    *sorted(p for p in (OVERLAY / "usr/lib/pychat-image").iterdir() if p.suffix != ".py"),
]
needs_analyze = pytest.mark.skipif(
    shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed"
)


@pytest.fixture(scope="module")
def fake_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The distribution's units, Pychat's and the image's, and stand-ins for the programs
    they start (verify checks that each ExecStart= is executable)."""
    root = tmp_path_factory.mktemp("root")
    system = Path("/usr/lib/systemd/system")
    if not system.is_dir():
        pytest.skip("no systemd unit directory on this machine")
    shutil.copytree(system, root / "usr/lib/systemd/system", symlinks=True)
    ours = root / "etc/systemd/system"
    ours.mkdir(parents=True)
    for unit in (REPO / "systemd").glob("pychat*.[psh]*"):
        if unit.suffix in (".service", ".socket", ".path"):
            shutil.copy(unit, ours / unit.name)
    for name in IMAGE_UNITS:
        shutil.copy(OVERLAY / "usr/lib/systemd/system" / name, ours / name)
    for program in (
        "opt/pychat/bin/python",
        "opt/pychat/bin/pychat",
        "usr/bin/ssh-keygen",
        "usr/lib/pychat-image/grow-root",
        "usr/lib/pychat-image/claim-banner",
        "usr/lib/pychat-image/factory-reset-from-card",
    ):
        path = root / program
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("#!/bin/sh\n")
        path.chmod(0o755)
    return root


@needs_analyze
@pytest.mark.parametrize("unit", IMAGE_UNITS)
def test_systemd_accepts_the_first_boot_units(fake_root: Path, unit: str) -> None:
    argv = ["systemd-analyze", "verify", "--man=no", f"--root={fake_root}"]
    done = subprocess.run(
        [*argv, f"/etc/systemd/system/{unit}"],
        capture_output=True,
        text=True,
        check=False,
    )
    # ssh.service is not installed on a build host; everything else must be silent.
    noise = [
        line
        for line in (done.stdout + done.stderr).splitlines()
        if line.strip() and "ssh.service" not in line
    ]
    assert done.returncode == 0 and not noise, done.stdout + done.stderr


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_the_build_and_first_boot_scripts_parse(script: Path) -> None:
    shell = "bash" if "bash" in script.read_text().split("\n", 1)[0] else "sh"
    done = subprocess.run([shell, "-n", str(script)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert script.stat().st_mode & 0o111, f"{script.name} is executable"


def test_every_unit_the_image_ships_is_enabled_by_the_build() -> None:
    stage = (REPO / "image/stages/2-appliance").read_text()
    for unit in IMAGE_UNITS:
        assert unit in stage, f"{unit} is never enabled"
    for path in (REPO / "systemd").iterdir():
        if path.suffix in (".service", ".socket", ".path") and "@" not in path.name:
            assert path.name in stage, f"{path.name} is never enabled"
