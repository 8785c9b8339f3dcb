"""Stage 3 of the image build: a root tree becomes a bootable MBR disk image, without
mounting anything. Checked with the tools a Pi's firmware and kernel rely on: the
partition table, the labels cmdline.txt and fstab name, and the files in each partition."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TOOLS = ("mkfs.vfat", "mcopy", "mtype", "mkfs.ext4", "debugfs", "sfdisk", "blkid")
pytestmark = pytest.mark.skipif(
    any(shutil.which(t) is None for t in TOOLS),
    reason=f"needs {', '.join(TOOLS)} (apt-get install dosfstools mtools e2fsprogs fdisk)",
)


def run(*argv: str, **kw: object) -> str:
    return subprocess.run(argv, capture_output=True, text=True, check=True, **kw).stdout  # type: ignore[call-overload, no-any-return]


def test_a_root_tree_becomes_a_two_partition_disk_found_by_label(tmp_path: Path) -> None:
    root = tmp_path / "rootfs"
    (root / "boot/firmware/overlays").mkdir(parents=True)
    (root / "boot/firmware/cmdline.txt").write_text("root=LABEL=RASPIROOT rw rootwait\n")
    (root / "boot/firmware/overlays/x.dtbo").write_bytes(b"\xd0\x0d\xfe\xed")
    (root / "etc").mkdir()
    (root / "etc/hostname").write_text("pychat\n")
    image = tmp_path / "out/test.img"
    image.parent.mkdir()
    env = {**os.environ, "PYCHAT_IMAGE_BOOT_MB": "64", "PYCHAT_IMAGE_ROOT_FREE_MB": "16"}
    run(str(REPO / "image/stages/3-disk"), str(root), str(image), env=env)

    table = json.loads(run("sfdisk", "-J", str(image)))["partitiontable"]
    assert table["label"] == "dos", "an MBR: the Pi's boot ROM reads nothing else"
    boot, rootp = table["partitions"]
    assert boot["type"] == "c" and boot.get("bootable"), "FAT32 (LBA), bootable"
    assert boot["start"] * 512 % (4 << 20) == 0 and rootp["start"] == boot["start"] + boot["size"]
    assert rootp["type"] == "83"

    def probe(part: dict[str, int], tag: str) -> str:
        offset = str(part["start"] * 512)
        return run("blkid", "-p", "-O", offset, "-s", tag, "-o", "value", str(image)).strip()

    assert (probe(boot, "TYPE"), probe(boot, "LABEL")) == ("vfat", "RASPIFIRM")
    assert (probe(rootp, "TYPE"), probe(rootp, "LABEL")) == ("ext4", "RASPIROOT")

    fat = f"{image}@@{boot['start'] * 512}"
    assert run("mtype", "-i", fat, "::/cmdline.txt") == "root=LABEL=RASPIROOT rw rootwait\n"
    assert "x" in run("mdir", "-b", "-i", fat, "::/overlays/"), "folders are copied too"

    ext4 = tmp_path / "root.ext4"
    run("dd", f"if={image}", f"of={ext4}", "bs=512", f"skip={rootp['start']}",
        f"count={rootp['size']}", "status=none")  # fmt: skip
    assert run("debugfs", "-R", "cat /etc/hostname", str(ext4)) == "pychat\n"
    listing = run("debugfs", "-R", "ls -l /boot/firmware", str(ext4))
    assert "cmdline.txt" not in listing, "boot files live in the boot partition only"
    assert (root / "boot/firmware/cmdline.txt").exists(), "the build's tree is left as it was"
