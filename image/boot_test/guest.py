"""One QEMU guest booted from the image: power on, serial log, disk counters, power off."""

# ruff: noqa: S603, S607  (qemu and qemu-img from the host, fixed arguments)
from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from .disk import boot_file, boot_files, image_arch

# Per architecture: the QEMU machine (TCG: KVM hangs x86 guests on the build machines) and
# the serial console the kernel writes to there.
MACHINES = {
    "arm64": (["qemu-system-aarch64", "-M", "virt", "-cpu", "cortex-a72"], "ttyAMA0"),
    "amd64": (["qemu-system-x86_64", "-M", "q35", "-cpu", "max"], "ttyS0"),
}


FAILED = re.compile(r"\[FAILED\]|Failed to start|failed with result|Kernel panic|Oops")


def serial_failures(serial: Path) -> list[str]:
    """Lines of a boot's serial log that say a unit failed or the kernel gave up."""
    text = serial.read_text(errors="replace") if serial.exists() else ""
    return [line.strip() for line in text.splitlines() if FAILED.search(line)]


# QEMU's model of the Raspberry Pi 3 Model B (1 GiB, 4 Cortex-A53) and its upstream device tree.
PI_MACHINE = "raspi3b"
PI_DEVICE_TREE = "bcm2837-rpi-3-b.dtb"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class DiskCounters:
    """What the guest has written to its disk so far (QMP query-blockstats)."""

    bytes_written: int
    writes: int
    flushes: int

    def __sub__(self, earlier: DiskCounters) -> DiskCounters:
        return DiskCounters(
            self.bytes_written - earlier.bytes_written,
            self.writes - earlier.writes,
            self.flushes - earlier.flushes,
        )


class Guest:
    """One QEMU process on a qcow2 overlay over the image, stopped by its PID."""

    def __init__(self, image: Path, work: Path, machine: str = "virt") -> None:
        self.image, self.work, self.machine = image, work, machine
        self.https, self.http = free_port(), free_port()
        self.turn = free_port()
        self.serial = work / "serial.log"
        self.pidfile = work / "qemu.pid"
        self.qmp = work / "qmp.sock"
        self.overlay = work / "overlay.qcow2"
        self.proc: subprocess.Popen[bytes] | None = None
        self.journal_level = "notice"

    def create_overlay(self) -> None:
        """A blank card: 4 GiB, bigger than the image, so first boot has a partition to grow
        (and a power of two, which QEMU's SD card model needs)."""
        subprocess.check_call(
            ["qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw", "-b", str(self.image),
             str(self.overlay), "4G"]
        )  # fmt: skip

    def start(self, journal_level: str = "notice") -> None:
        kernel, initrd, cmdline = boot_files(self.image, self.work)
        # The journal is in RAM only: copy it to the serial log, the one record of a failed
        # boot (notice and worse by default: serial output is slow under TCG).
        journal = [
            "systemd.journald.forward_to_console=1",
            f"systemd.journald.max_level_console={journal_level}",
        ]
        forwards = (
            f"hostfwd=tcp:127.0.0.1:{self.https}-:443,hostfwd=tcp:127.0.0.1:{self.http}-:80,"
            f"hostfwd=tcp:127.0.0.1:{self.turn}-:3478"
        )
        common = [
            "-accel", "tcg", "-nographic", "-monitor", "none", "-pidfile", str(self.pidfile),
            "-qmp", f"unix:{self.qmp},server=on,wait=off",
            "-kernel", str(kernel), "-initrd", str(initrd),
        ]  # fmt: skip
        # cache=none: QEMU caches nothing itself and writes qcow2's tables at the guest's
        # flushes, so a SIGKILL loses what the guest had not flushed to new space, and all
        # it held in memory (docs/flashing.md, "Power cuts", says what it does not model).
        drive = f"id=disk,format=qcow2,cache=none,file={self.overlay}"
        self.journal_level = journal_level
        if self.machine == PI_MACHINE:
            # An SD card has no flush command, so the guest never flushes it, and qcow2
            # would keep the tables of new clusters in memory until a SIGKILL lost them
            # (found by the first cut). directsync: each write is stable when it completes,
            # a card with no volatile cache.
            drive = drive.replace("cache=none", "cache=directsync")
            argv = self._pi_argv(cmdline, common, drive, forwards)
        else:
            machine, console = MACHINES[image_arch(self.image)]
            # The Pi's consoles (ttyS1, tty0) become QEMU's serial port; the rest is the image's.
            args = [a for a in cmdline if not a.startswith("console=")] + [f"console={console}"]
            argv = [
                *machine, "-smp", "2", "-m", "1024", *common,
                "-serial", f"file:{self.serial}", "-append", " ".join(args + journal),
                "-drive", f"if=none,{drive}", "-device", "virtio-blk-pci,drive=disk",
                "-device", "virtio-rng-pci",
                # restrict=on: the guest reaches nothing outside, only these ports reach it.
                "-nic", f"user,model=virtio-net-pci,restrict=on,{forwards}",
            ]  # fmt: skip
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL)

    def _pi_argv(self, args: list[str], common: list[str], drive: str, forwards: str) -> list[str]:
        """QEMU's Raspberry Pi 3 model: the Pi's device tree from the card, the card on the
        SD controller, the network on USB (usb0, as a USB Ethernet adapter), and the card's
        own kernel command line, consoles included: its mini UART (ttyS1) is QEMU's second
        serial port. The GPU firmware and config.txt are not run: QEMU loads the kernel."""
        dtb = boot_file(self.image, PI_DEVICE_TREE, self.work)
        # The card's consoles as they are: tty0, last, is /dev/console, so the journal goes
        # to the kernel's log, which every console prints, the serial one too. (Moving
        # ttyS1 last instead hung the reboot, after "Shutting down.", in QEMU's mini UART.)
        journal = ["systemd.journald.forward_to_kmsg=1",
                   f"systemd.journald.max_level_kmsg={self.journal_level}"]  # fmt: skip
        # QEMU's USB network device offers CDC Ethernet with a fixed MAC (as a real adapter
        # has), but the kernel's cdc_subset takes it first and makes up a MAC at each boot:
        # QEMU's DHCP then gives a new address the forwarded ports do not reach.
        quirk = ["modprobe.blacklist=cdc_subset"]
        args = args + journal + quirk
        return [
            "qemu-system-aarch64", "-M", PI_MACHINE, *common, "-dtb", str(dtb),
            "-serial", "null", "-serial", f"file:{self.serial}", "-append", " ".join(args),
            "-drive", f"if=sd,{drive}",
            "-device", "usb-net,netdev=net0",
            "-netdev", f"user,id=net0,restrict=on,{forwards}",
        ]  # fmt: skip

    def stop(self) -> None:
        if self.proc is None:
            return
        pid = int(self.pidfile.read_text()) if self.pidfile.exists() else self.proc.pid
        if self.proc.poll() is None:
            os.kill(pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.kill(pid, signal.SIGKILL)
                self.proc.wait()
        self.proc = None

    def power_cut(self) -> None:
        """Pull the plug: SIGKILL, so QEMU writes nothing more and flushes nothing."""
        if self.proc is None:
            return
        pid = int(self.pidfile.read_text()) if self.pidfile.exists() else self.proc.pid
        os.kill(pid, signal.SIGKILL)
        self.proc.wait()
        self.proc = None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    async def disk_counters(self) -> DiskCounters:
        """The virtual disk's write counters, from QEMU's monitor (QMP)."""
        reader, writer = await asyncio.wait_for(asyncio.open_unix_connection(self.qmp), 10)
        try:
            await _qmp_reply(reader)  # the greeting
            for command in ("qmp_capabilities", "query-blockstats"):
                writer.write(json.dumps({"execute": command}).encode() + b"\n")
                await writer.drain()
                reply = await _qmp_reply(reader)
        finally:
            writer.close()
        stats = next(d["stats"] for d in reply["return"] if d.get("device") == "disk")
        return DiskCounters(stats["wr_bytes"], stats["wr_operations"], stats["flush_operations"])

    async def wait_for_https(self, path: str, deadline: float) -> float:
        """Seconds until GET https://…/path answers 200 (the wizard, later the app)."""
        start = time.monotonic()
        url = f"https://127.0.0.1:{self.https}{path}"
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
            while time.monotonic() < deadline:
                if not self.alive():
                    raise SystemExit("QEMU exited during boot: see the serial log")
                try:
                    async with http.get(url, ssl=False) as resp:
                        if resp.status == 200:
                            return time.monotonic() - start
                except (TimeoutError, aiohttp.ClientError, OSError):
                    pass
                await asyncio.sleep(1)  # polling a booting guest: nothing to wait on but time
        raise SystemExit(f"no answer from {url} within the limit: see {self.serial}")

    async def wait_until_down(self, deadline: float) -> None:
        url = f"https://127.0.0.1:{self.https}/api/health"
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=3)) as http:
            while time.monotonic() < deadline:
                try:
                    async with http.get(url, ssl=False) as resp:
                        await resp.read()
                except (TimeoutError, aiohttp.ClientError, OSError):
                    return
                await asyncio.sleep(0.5)
        raise SystemExit("the device did not go down after the reboot request")

    async def wait_for_serial(self, text: str, deadline: float) -> None:
        while time.monotonic() < deadline:
            if text in self.serial.read_text(errors="replace"):
                return
            await asyncio.sleep(1)  # the serial log is a file QEMU appends to
        raise SystemExit(f"{text!r} never appeared on the serial console")


async def _qmp_reply(reader: asyncio.StreamReader) -> dict[str, Any]:
    """The next line that is not an asynchronous event."""
    while True:
        line = await asyncio.wait_for(reader.readline(), 10)
        if not line:
            raise SystemExit("QEMU closed its monitor socket")
        message: dict[str, Any] = json.loads(line)
        if "event" not in message:
            return message
