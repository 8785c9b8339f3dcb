"""What the Pi's GPU firmware reads from the boot partition, checked without a Pi.

QEMU's Raspberry Pi model loads the kernel itself, so `bootcode.bin`, `start*.elf`,
`config.txt` and `cmdline.txt` as the firmware reads them are never run in the boot test.
These checks hold the boot partition to what raspi-firmware's hooks write for a 64-bit
upstream kernel, and to the files that this needs on each supported model.
"""

# ruff: noqa: S603, S607  (mtools from the host, fixed arguments)
from __future__ import annotations

import re
import subprocess
from pathlib import Path

from .disk import partitions

# The firmware's first stages: Pi 3 and Zero 2 W (bootcode.bin, start/fixup), Pi 4, 400
# and CM4 (start4/fixup4; their bootloader is in EEPROM).
FIRMWARE = ("bootcode.bin", "start.elf", "fixup.dat", "start4.elf", "fixup4.dat")
# With upstream_kernel=1 the firmware picks the upstream device tree of the board it is on.
DEVICE_TREES = (
    "bcm2837-rpi-3-b.dtb", "bcm2837-rpi-3-b-plus.dtb", "bcm2837-rpi-3-a-plus.dtb",
    "bcm2837-rpi-zero-2-w.dtb", "bcm2711-rpi-4-b.dtb", "bcm2711-rpi-400.dtb",
    "bcm2711-rpi-cm4-io.dtb",
)  # fmt: skip
# Lines raspi-firmware's hook writes and the boot relies on: 64-bit mode, the UART that
# ttyS1 is (enable_uart fixes the core clock the mini UART counts on), upstream names.
CONFIG_LINES = ("arm_64bit=1", "enable_uart=1", "upstream_kernel=1")
ROOT_LABEL = "RASPIROOT"


def _boot_partition(image: Path) -> str:
    return f"{image}@@{partitions(image)[0][0]}"


def _read(fat: str, name: str) -> str:
    return subprocess.check_output(["mtype", "-i", fat, f"::/{name}"], text=True)


def check_pi_boot_partition(image: Path) -> list[str]:
    """Problems found (empty when the partition is as the firmware needs it)."""
    fat = _boot_partition(image)
    listing = subprocess.check_output(["mdir", "-b", "-i", fat, "::/"], text=True)
    names = {name.removeprefix("::/") for name in listing.split()}
    problems = [f"missing {name}" for name in FIRMWARE + DEVICE_TREES if name not in names]
    config = [line.strip() for line in _read(fat, "config.txt").splitlines()]
    problems += [f"config.txt lacks {line}" for line in CONFIG_LINES if line not in config]
    kernel = next((line.split("=", 1)[1] for line in config if line.startswith("kernel=")), "")
    initramfs = next((line.split()[1] for line in config if line.startswith("initramfs ")), "")
    for what, name in (("kernel", kernel), ("initramfs", initramfs)):
        if name not in names:
            problems.append(f"config.txt's {what} {name!r} is not on the boot partition")
    if (
        kernel
        and initramfs
        and kernel.removeprefix("vmlinuz-") != initramfs.removeprefix("initrd.img-")
    ):
        problems.append(f"config.txt pairs kernel {kernel} with initramfs {initramfs}")
    cmdline = _read(fat, "cmdline.txt")
    if cmdline.count("\n") > 1:
        problems.append("cmdline.txt is more than one line (the firmware reads the first)")
    args = cmdline.split()
    if f"root=LABEL={ROOT_LABEL}" not in args:
        problems.append(f"cmdline.txt does not find the root by its label {ROOT_LABEL}")
    if "rootwait" not in args:
        problems.append("cmdline.txt lacks rootwait (an SD card or USB disk comes late)")
    if not any(re.fullmatch(r"console=ttyS1(,\d+)?", a) for a in args):
        problems.append("cmdline.txt has no console on the Pi's UART (ttyS1)")
    return problems
