"""Configuration: defaults < TOML file < PYCHAT_* environment < command-line overrides."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from appliance.config import ConfigError, Settings, load_settings


def write_toml(data: Path, text: str) -> None:
    (data / "pychat.toml").write_text(text, encoding="utf-8")


def test_defaults_without_file_or_environment(tmp_path: Path) -> None:
    settings = load_settings(tmp_path, environ={})
    assert settings == Settings(data_dir=tmp_path)
    assert settings.db.synchronous == "FULL"
    assert settings.limits.send_burst == 20
    assert settings.db_path == tmp_path / "pychat.db"


def test_each_layer_overrides_the_one_below(tmp_path: Path) -> None:
    write_toml(
        tmp_path,
        "[limits]\nsend_burst = 30\nmessage_chars = 500\nframe_bytes = 4096\n"
        '[db]\nsynchronous = "NORMAL"\n',
    )
    env = {"PYCHAT_LIMITS_SEND_BURST": "40", "PYCHAT_LIMITS_MESSAGE_CHARS": "600"}
    settings = load_settings(tmp_path, environ=env, overrides={"limits.send_burst": 50})

    assert settings.limits.send_burst == 50  # override beats env beats file
    assert settings.limits.message_chars == 600  # env beats file
    assert settings.limits.frame_bytes == 4096  # file beats default
    assert settings.db.synchronous == "NORMAL"
    assert settings.limits.request_bytes == 1048576  # untouched default
    assert settings.auth == Settings().auth


def test_environment_values_are_typed(tmp_path: Path) -> None:
    env = {
        "PYCHAT_LIMITS_SEND_PER_SECOND": "2.5",
        "PYCHAT_AUTH_SESSION_DAYS": "7",
        "PYCHAT_DB_SYNCHRONOUS": "normal",
        "PYCHAT_WS_HEARTBEAT_S": "15",
        "PYCHAT_SERVER_LISTEN": "0.0.0.0:8443",
    }
    settings = load_settings(tmp_path, environ=env)
    assert settings.limits.send_per_second == 2.5
    assert settings.auth.session_days == 7 and isinstance(settings.auth.session_days, int)
    assert settings.db.synchronous == "NORMAL"
    assert settings.ws.heartbeat_s == 15.0
    assert settings.server.listen == "0.0.0.0:8443"


def test_unrelated_environment_is_ignored(tmp_path: Path) -> None:
    env = {"PYCHAT_DATA": "/somewhere", "HOME": "/root", "PYCHAT": "x"}
    assert load_settings(tmp_path, environ=env) == Settings(data_dir=tmp_path)


def test_settings_are_frozen(tmp_path: Path) -> None:
    settings = load_settings(tmp_path, environ={})
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.limits.send_burst = 1  # type: ignore[misc]


@pytest.mark.parametrize(
    ("env", "key"),
    [
        ({"PYCHAT_LIMITS_SEND_BURST": "abc"}, "limits.send_burst"),
        ({"PYCHAT_LIMITS_SEND_BURST": "0"}, "limits.send_burst"),
        ({"PYCHAT_LIMITS_SEND_BURST": "2.5"}, "limits.send_burst"),
        ({"PYCHAT_LIMITS_SEND_BURST": ""}, "limits.send_burst"),
        ({"PYCHAT_AUTH_SCRYPT_N": "1"}, "auth.scrypt_n"),
        ({"PYCHAT_LIMITS_SEND_PER_SECOND": "fast"}, "limits.send_per_second"),
        ({"PYCHAT_LIMITS_SEND_PER_SECOND": "nan"}, "limits.send_per_second"),
        ({"PYCHAT_DB_SYNCHRONOUS": "OFF"}, "db.synchronous"),
        ({"PYCHAT_SERVER_LISTEN": "localhost"}, "server.listen"),
        ({"PYCHAT_SERVER_LISTEN": "127.0.0.1:99999"}, "server.listen"),
    ],
)
def test_bad_environment_values_name_the_key(tmp_path: Path, env: dict[str, str], key: str) -> None:
    with pytest.raises(ConfigError) as bad:
        load_settings(tmp_path, environ=env)
    assert str(bad.value).startswith(f"{key}:"), str(bad.value)


@pytest.mark.parametrize(
    ("toml", "key"),
    [
        ('[limits]\nsend_burst = "abc"\n', "limits.send_burst"),
        ("[limits]\nsend_burst = true\n", "limits.send_burst"),
        ("[limits]\nsend_burst = 2.5\n", "limits.send_burst"),
        ("[limits]\nsend_burst = 0\n", "limits.send_burst"),
        ("[limits]\nsend_brust = 5\n", "limits.send_brust"),
        ('[db]\nsynchronous = "sometimes"\n', "db.synchronous"),
        ("[ws]\nheartbeat_s = 0\n", "ws.heartbeat_s"),
    ],
)
def test_bad_file_values_name_the_key(tmp_path: Path, toml: str, key: str) -> None:
    write_toml(tmp_path, toml)
    with pytest.raises(ConfigError) as bad:
        load_settings(tmp_path, environ={})
    assert str(bad.value).startswith(f"{key}:"), str(bad.value)


@pytest.mark.parametrize(
    ("toml", "words"),
    [
        ("[nonsense]\nx = 1\n", "[nonsense]"),
        ("send_burst = 5\n", "send_burst"),
        ("[limits\nsend_burst = 5\n", "pychat.toml"),
    ],
)
def test_a_broken_file_is_named_in_the_error(tmp_path: Path, toml: str, words: str) -> None:
    write_toml(tmp_path, toml)
    with pytest.raises(ConfigError) as bad:
        load_settings(tmp_path, environ={})
    assert words in str(bad.value)
    assert "pychat.toml" in str(bad.value)


def test_a_bad_environment_value_is_refused_even_when_the_file_is_fine(tmp_path: Path) -> None:
    write_toml(tmp_path, "[limits]\nsend_burst = 30\n")
    with pytest.raises(ConfigError) as bad:
        load_settings(tmp_path, environ={"PYCHAT_LIMITS_SEND_BURST": "lots"})
    assert str(bad.value).startswith("limits.send_burst:")


def test_a_bad_override_names_the_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as bad:
        load_settings(tmp_path, environ={}, overrides={"server.listen": "nowhere"})
    assert str(bad.value).startswith("server.listen:")


def test_a_database_and_a_bus_are_addresses_of_their_kind(tmp_path: Path) -> None:
    """Several nodes (docs/scaling.md): a wrong address is refused at start, by name."""
    chosen = load_settings(
        tmp_path,
        environ={
            "PYCHAT_DATABASE_URL": "postgresql://pychat@db.lan/pychat",
            "PYCHAT_BUS_URL": "redis://bus.lan/0",
        },
    )
    assert chosen.database.url == "postgresql://pychat@db.lan/pychat"
    assert chosen.bus.url == "redis://bus.lan/0"
    assert load_settings(tmp_path, environ={}).database.url == ""  # SQLite, the appliance
    for environ, key in (
        ({"PYCHAT_DATABASE_URL": "mysql://db.lan/pychat"}, "database.url"),
        ({"PYCHAT_DATABASE_URL": "pychat.db"}, "database.url"),
        (
            {"PYCHAT_DATABASE_URL": "postgresql://db.lan/p", "PYCHAT_BUS_URL": "http://bus"},
            "bus.url",
        ),
        ({"PYCHAT_BUS_URL": "redis://bus.lan/0"}, "bus.url"),  # a bus needs a shared database
    ):
        with pytest.raises(ConfigError) as bad:
            load_settings(tmp_path, environ=environ)
        assert str(bad.value).startswith(key), bad.value
