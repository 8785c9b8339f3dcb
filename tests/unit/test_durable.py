"""appliance.system.durable: the one way files are replaced. Real files in tmp_path; failures are
real ones too (a file size limit, a folder in the way), never a patched os."""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from appliance.privileged.commands import WriteFile
from appliance.privileged.executor import StepFailed, SystemExecutor
from appliance.system import durable


@contextlib.contextmanager
def umask(mask: int) -> Iterator[None]:
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


@contextlib.contextmanager
def file_size_limit(limit: int) -> Iterator[None]:
    """Writes past `limit` bytes fail with EFBIG, as a full disk fails part-way through."""
    old_limit = resource.getrlimit(resource.RLIMIT_FSIZE)
    old_handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, old_limit[1]))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, old_limit)
        signal.signal(signal.SIGXFSZ, old_handler)


def names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_a_new_file_has_its_content_and_exactly_its_mode(tmp_path: Path) -> None:
    key, cert = tmp_path / "server.key", tmp_path / "server.crt"
    with umask(0o077):  # the umask neither tightens ...
        durable.write_file(cert, b"cert", mode=0o644)
    with umask(0):  # ... nor loosens the mode asked for
        durable.write_file(key, b"key", mode=0o600)
    assert cert.read_bytes() == b"cert" and (cert.stat().st_mode & 0o777) == 0o644
    assert key.read_bytes() == b"key" and (key.stat().st_mode & 0o777) == 0o600
    assert names(tmp_path) == ["server.crt", "server.key"]


def test_without_a_mode_the_umask_decides_as_for_open(tmp_path: Path) -> None:
    target = tmp_path / "READY"
    with umask(0o027):
        durable.write_file(target, b"1", mode=None)
    assert (target.stat().st_mode & 0o777) == 0o640


def test_a_replaced_file_is_swapped_whole_for_the_new_one(tmp_path: Path) -> None:
    target = tmp_path / "config.txt"
    target.write_bytes(b"old")
    with target.open("rb") as reader:  # someone reading it meanwhile
        durable.write_file(target, b"new", mode=0o644)
        assert reader.read() == b"old"  # keeps the whole old file, never a mix
    assert target.read_bytes() == b"new"
    assert names(tmp_path) == ["config.txt"]


def test_a_write_failing_midway_keeps_the_old_file_and_leaves_no_temporary(
    tmp_path: Path,
) -> None:
    target = tmp_path / "pychat.txt"
    target.write_bytes(b"old settings")
    with file_size_limit(4096), pytest.raises(OSError, match="too large"):
        durable.write_file(target, b"x" * 10_000, mode=0o644)
    assert target.read_bytes() == b"old settings"
    assert names(tmp_path) == ["pychat.txt"]


def test_the_root_helper_refuses_a_short_write_instead_of_installing_it(tmp_path: Path) -> None:
    # os.write may write less than asked: the file put in place must never be cut short.
    target = tmp_path / "conn.nmconnection"
    target.write_bytes(b"old")
    with file_size_limit(4096), pytest.raises(StepFailed, match="cannot write"):
        SystemExecutor().execute((WriteFile(target, b"x" * 10_000, 0o600),))
    assert target.read_bytes() == b"old"
    assert names(tmp_path) == ["conn.nmconnection"]


def test_a_failing_rename_leaves_no_temporary(tmp_path: Path) -> None:
    in_the_way = tmp_path / "ca.crt"
    in_the_way.mkdir()
    (in_the_way / "something").write_text("")
    with pytest.raises(OSError):
        durable.write_file(in_the_way, b"cert", mode=0o644)
    assert names(tmp_path) == ["ca.crt"] and in_the_way.is_dir()


def test_a_symlink_is_replaced_never_followed(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("keep")
    link = tmp_path / "claim-code.txt"
    link.symlink_to(victim)
    durable.write_file(link, b"ABCD-EFGH\n", mode=0o400)
    assert victim.read_text() == "keep"
    assert not link.is_symlink() and link.read_bytes() == b"ABCD-EFGH\n"


def test_writers_of_one_file_at_once_never_clash(tmp_path: Path) -> None:
    target = tmp_path / "server.crt"
    start = threading.Barrier(4)
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        start.wait()
        try:
            for _ in range(50):
                durable.write_file(target, f"writer {n}".encode(), mode=0o644)
        except BaseException as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert target.read_text() in {f"writer {n}" for n in range(4)}
    assert names(tmp_path) == ["server.crt"]


def test_a_stream_is_put_in_place_only_when_complete(tmp_path: Path) -> None:
    out = tmp_path / "pychat-backup-20261206-090000Z.tar.gz"
    out.write_bytes(b"yesterday's backup")
    with pytest.raises(RuntimeError), durable.replacing(out, mode=None) as partial:
        # Hidden and named .partial while unfinished (the USB clean-up removes leftovers).
        assert partial.parent == tmp_path
        assert partial.match(".pychat-backup-*.partial")
        with partial.open("wb") as f:
            f.write(b"half an archive")
        raise RuntimeError("the disk went away")
    assert out.read_bytes() == b"yesterday's backup"
    assert names(tmp_path) == [out.name]
    with durable.replacing(out, mode=0o600) as partial, partial.open("wb") as f:
        f.write(b"today's backup")
    assert out.read_bytes() == b"today's backup" and (out.stat().st_mode & 0o777) == 0o600
    assert names(tmp_path) == [out.name]


def test_move_puts_a_finished_file_in_its_place(tmp_path: Path) -> None:
    (tmp_path / "tmp").mkdir()
    (tmp_path / "ab").mkdir()
    source, target = tmp_path / "tmp" / "upload-1", tmp_path / "ab" / "cdef"
    source.write_bytes(b"bytes")
    durable.move(source, target)
    assert target.read_bytes() == b"bytes" and not source.exists()


def test_sync_tree_reaches_every_file_and_never_follows_a_symlink(tmp_path: Path) -> None:
    staged = tmp_path / "staged"
    (tmp_path / "elsewhere").write_bytes(b"not ours")
    (staged / "files" / "ab").mkdir(parents=True)
    (staged / "pychat.db").write_bytes(b"db")
    (staged / "files" / "ab" / "cdef").write_bytes(b"blob")
    durable.sync_tree(staged)  # a readable tree: every entry opened and synced
    (staged / "files" / "link").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(OSError, match="symbolic links"):
        durable.sync_tree(staged)
