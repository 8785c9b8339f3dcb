"""`pychat factory-reset`: real files in tmp_path, nothing deleted, only moved aside."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from appliance.__main__ import main
from appliance.backup.factory_reset import ResetRefused, factory_reset


def _data(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    data.mkdir()
    conn = sqlite3.connect(data / "pychat.db")
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE t (x)")
    conn.close()
    (data / "backup-notes.txt").write_text("anything else in the folder moves too")
    (data / "tls").mkdir()
    (data / "tls" / "ca.key").write_text("key")
    (data / "claim-code.txt").write_text("ABCD-EFGH")
    (data / "restore-previous").mkdir()
    (data / "pychat.toml").write_text("[server]\n")
    return data


def test_everything_but_the_settings_moves_aside(tmp_path: Path) -> None:
    data = _data(tmp_path)
    aside, moved = factory_reset(data)
    assert aside.parent == data and aside.name.startswith("factory-reset-")
    assert moved == [
        "backup-notes.txt",
        "claim-code.txt",
        "pychat.db",
        "restore-previous",
        "tls",
    ]
    assert sorted(p.name for p in data.iterdir()) == [aside.name, "pychat.toml"]
    assert (aside / "tls" / "ca.key").read_text() == "key"
    assert (aside / "claim-code.txt").read_text() == "ABCD-EFGH"
    assert aside.stat().st_mode & 0o777 == 0o700


def test_a_second_reset_leaves_the_first_alone(tmp_path: Path) -> None:
    data = _data(tmp_path)
    first, _ = factory_reset(data)
    (data / "pychat.db").write_bytes(b"")
    second, moved = factory_reset(data)
    assert second != first and moved == ["pychat.db"]
    assert (first / "tls").is_dir() and (second / "pychat.db").exists()
    with pytest.raises(ResetRefused, match="nothing to reset"):
        factory_reset(data)


def test_refused_while_a_server_has_the_database_open(tmp_path: Path) -> None:
    data = _data(tmp_path)
    conn = sqlite3.connect(data / "pychat.db")
    try:
        conn.execute("BEGIN IMMEDIATE")  # a writer, as a running server may be
        with pytest.raises(ResetRefused, match="stop it first"):
            factory_reset(data)
    finally:
        conn.close()
    assert (data / "pychat.db").exists() and not list(data.glob("factory-reset-*"))


def test_refused_without_a_folder(tmp_path: Path) -> None:
    with pytest.raises(ResetRefused, match="not a folder"):
        factory_reset(tmp_path / "absent")


def test_the_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = _data(tmp_path)
    assert main(["factory-reset", "--data", str(data)]) == 2
    assert "--yes" in capsys.readouterr().err
    assert (data / "pychat.db").exists()
    assert main(["factory-reset", "--data", str(data), "--yes"]) == 0
    out = capsys.readouterr().out
    assert "pychat.db" in out and "tls" in out and "rm -rf" in out
    assert not (data / "pychat.db").exists()
    assert main(["factory-reset", "--data", str(data), "--yes"]) == 1
    assert "nothing to reset" in capsys.readouterr().err
