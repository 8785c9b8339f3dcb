"""The static check of what the Pi's GPU firmware reads (image/boot_test/pi_boot.py): QEMU's
Pi model loads the kernel itself, so config.txt and cmdline.txt are only checked this way.
A boot partition as raspi-firmware writes it passes; the mistakes that would leave a real Pi
at a rainbow screen or without its root are named."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from image.boot_test.pi_boot import DEVICE_TREES, FIRMWARE, check_pi_boot_partition

REPO = Path(__file__).resolve().parents[2]
TOOLS = ("mkfs.vfat", "mcopy", "mtype", "mdir", "mkfs.ext4", "sfdisk")
pytestmark = pytest.mark.skipif(
    any(shutil.which(t) is None for t in TOOLS),
    reason=f"needs {', '.join(TOOLS)} (apt-get install dosfstools mtools e2fsprogs fdisk)",
)
KERNEL = "6.1.0-57-arm64"
CONFIG = f"""# written by raspi-firmware
arm_64bit=1

enable_uart=1
upstream_kernel=1

kernel=vmlinuz-{KERNEL}
initramfs initrd.img-{KERNEL}
"""
CMDLINE = " console=ttyS1,115200 console=tty0 root=LABEL=RASPIROOT rw fsck.repair=yes rootwait\n"


def card(tmp: Path, edit: dict[str, str | None]) -> Path:
    firmware = tmp / "rootfs/boot/firmware"
    firmware.mkdir(parents=True)
    files: dict[str, str | None] = {name: "" for name in FIRMWARE + DEVICE_TREES}
    files |= {f"vmlinuz-{KERNEL}": "", f"initrd.img-{KERNEL}": ""}
    files |= {"config.txt": CONFIG, "cmdline.txt": CMDLINE} | edit
    for name, text in files.items():
        if text is not None:
            (firmware / name).write_text(text)
    image = tmp / "card.img"
    env = {**os.environ, "PYCHAT_IMAGE_BOOT_MB": "64", "PYCHAT_IMAGE_ROOT_FREE_MB": "8"}
    subprocess.run([str(REPO / "image/stages/3-disk"), str(tmp / "rootfs"), str(image)],
                   env=env, check=True, capture_output=True)  # fmt: skip
    return image


def test_a_boot_partition_as_raspi_firmware_writes_it_passes(tmp_path: Path) -> None:
    assert check_pi_boot_partition(card(tmp_path, {})) == []


def test_what_would_stop_a_real_pi_is_named(tmp_path: Path) -> None:
    broken = {
        "bcm2711-rpi-4-b.dtb": None,  # a Pi 4 would find no device tree
        "config.txt": CONFIG.replace("enable_uart=1\n", "").replace(KERNEL, "6.1.0-99-arm64", 1),
        "cmdline.txt": "console=tty0 root=/dev/mmcblk0p2 rw\n",
    }
    assert check_pi_boot_partition(card(tmp_path, broken)) == [
        "missing bcm2711-rpi-4-b.dtb",
        "config.txt lacks enable_uart=1",
        "config.txt's kernel 'vmlinuz-6.1.0-99-arm64' is not on the boot partition",
        f"config.txt pairs kernel vmlinuz-6.1.0-99-arm64 with initramfs initrd.img-{KERNEL}",
        "cmdline.txt does not find the root by its label RASPIROOT",
        "cmdline.txt lacks rootwait (an SD card or USB disk comes late)",
        "cmdline.txt has no console on the Pi's UART (ttyS1)",
    ]
