"""The image's disk as the boot test sees it, without mounting anything.

The boot partition is read from the image (and from the qcow2 overlay QEMU writes to) with
mtools; qemu-img and qemu-io move the partition's bytes in and out of the overlay.
"""

# ruff: noqa: S603, S607  (the host's sfdisk, mtools and qemu-img with fixed arguments)
from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path


def partitions(image: Path) -> list[tuple[int, int]]:
    """(byte offset, byte size) of each partition, from the MBR."""
    table = json.loads(subprocess.check_output(["sfdisk", "-J", str(image)]))["partitiontable"]
    return [(p["start"] * 512, p["size"] * 512) for p in table["partitions"]]


def image_arch(image: Path) -> str:
    """The architecture image/build named the image after: pychat-<version>-<arch>[-…].img."""
    return "amd64" if "-amd64" in image.name else "arm64"


def boot_files(image: Path, dest: Path) -> tuple[Path, Path, list[str]]:
    """The kernel, the initramfs and the kernel command line on the image's boot partition."""
    offset = partitions(image)[0][0]
    fat = f"{image}@@{offset}"
    names = subprocess.check_output(["mdir", "-b", "-i", fat, "::/"], text=True).split()
    kernel = sorted(n for n in names if re.fullmatch(r"::/vmlinuz-.*", n))[-1]
    initrd = sorted(n for n in names if re.fullmatch(r"::/initrd\.img-.*", n))[-1]
    for name in (kernel, initrd, "::/cmdline.txt"):
        subprocess.check_call(["mcopy", "-o", "-i", fat, name, str(dest) + "/"])
    cmdline = (dest / "cmdline.txt").read_text().split()
    return dest / kernel[3:], dest / initrd[3:], cmdline


def boot_file(image: Path, name: str, dest: Path) -> Path:
    """One file from the image's boot partition (a device tree, say), copied to dest/."""
    fat = f"{image}@@{partitions(image)[0][0]}"
    subprocess.check_call(["mcopy", "-o", "-i", fat, f"::/{name}", str(dest) + "/"])
    return dest / name


def _partition_opts(overlay: Path, offset: int, size: int) -> str:
    return (
        f"driver=raw,offset={offset},size={size},"
        f"file.driver=qcow2,file.file.driver=file,file.file.filename={overlay}"
    )


def read_boot_file(overlay: Path, image: Path, name: str, scratch: Path) -> str | None:
    """A file from the boot partition as the guest left it in the overlay (read-shared)."""
    offset, size = partitions(image)[0]
    fat = scratch / "boot.vfat"
    opts = _partition_opts(overlay, offset, size)
    subprocess.check_call(
        ["qemu-img", "convert", "-U", "--image-opts", opts, "-O", "raw", str(fat)]
    )
    done = subprocess.run(
        ["mtype", "-i", str(fat), f"::/{name}"], capture_output=True, text=True, check=False
    )
    return done.stdout if done.returncode == 0 else None


def write_boot_file(overlay: Path, image: Path, name: str, text: str, scratch: Path) -> None:
    """Put a file on the boot partition in the overlay, as a user does before first boot."""
    offset, size = partitions(image)[0]
    fat, source = scratch / "boot-edit.vfat", scratch / name
    opts = _partition_opts(overlay, offset, size)
    subprocess.check_call(["qemu-img", "convert", "--image-opts", opts, "-O", "raw", str(fat)])
    source.write_text(text)
    subprocess.check_call(["mcopy", "-o", "-i", str(fat), str(source), f"::/{name}"])
    write = f"write -q -s {fat} {offset} {size}"
    subprocess.check_call(["qemu-io", "-f", "qcow2", "-c", write, str(overlay)])
    fat.unlink()


def filled_pychat_txt(image: Path, settings: dict[str, str]) -> str:
    """The image's own pychat.txt with these settings filled in."""
    offset = partitions(image)[0][0]
    text = subprocess.check_output(
        ["mtype", "-i", f"{image}@@{offset}", "::/pychat.txt"], text=True
    )
    for key, value in settings.items():
        assert f"\n{key}=\n" in text, f"the image's pychat.txt offers {key}"
        text = text.replace(f"\n{key}=\n", f"\n{key}={value}\n")
    return text
