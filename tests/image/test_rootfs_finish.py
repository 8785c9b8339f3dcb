"""Stage 1's last step: an image without raspi-firmware (the amd64 smoke test) still gets a
boot partition with the kernel, initramfs and a cmdline.txt that finds the root by label,
and a Raspberry Pi tree keeps the cmdline.txt raspi-firmware wrote."""

from __future__ import annotations

import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
FINISH = REPO / "image/stages/1-rootfs-finish"


def tree(root: Path) -> Path:
    (root / "boot").mkdir(parents=True)
    (root / "boot/vmlinuz-6.1.0-1-cloud-amd64").write_bytes(b"kernel")
    (root / "boot/initrd.img-6.1.0-1-cloud-amd64").write_bytes(b"initrd")
    (root / "etc/initramfs-tools").mkdir(parents=True)
    (root / "etc/initramfs-tools/update-initramfs.conf").write_text("update_initramfs=no\n")
    (root / "etc/dpkg/dpkg.cfg.d").mkdir(parents=True)
    return root


def test_without_pi_firmware_the_kernel_and_a_label_cmdline_go_to_the_boot_partition(
    tmp_path: Path,
) -> None:
    root = tree(tmp_path / "rootfs")
    subprocess.run([str(FINISH), str(root)], check=True)
    firmware = root / "boot/firmware"
    assert (firmware / "vmlinuz-6.1.0-1-cloud-amd64").read_bytes() == b"kernel"
    assert (firmware / "initrd.img-6.1.0-1-cloud-amd64").read_bytes() == b"initrd"
    cmdline = (firmware / "cmdline.txt").read_text().split()
    assert "root=LABEL=RASPIROOT" in cmdline and "console=ttyS0,115200" in cmdline
    conf = (root / "etc/initramfs-tools/update-initramfs.conf").read_text()
    assert conf == "update_initramfs=yes\n", "kernel updates on the device refresh the initramfs"


def test_a_pi_tree_keeps_the_cmdline_raspi_firmware_wrote(tmp_path: Path) -> None:
    root = tree(tmp_path / "rootfs")
    (root / "boot/firmware").mkdir()
    pi = "console=ttyS1,115200 console=tty0 root=LABEL=RASPIROOT rw rootwait\n"
    (root / "boot/firmware/cmdline.txt").write_text(pi)
    subprocess.run([str(FINISH), str(root)], check=True)
    assert (root / "boot/firmware/cmdline.txt").read_text() == pi
    assert not (root / "boot/firmware/vmlinuz-6.1.0-1-cloud-amd64").exists()
