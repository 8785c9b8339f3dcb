"""The documentation covers every route, frame, event kind and setting (Datasette-style)."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from appliance.app import build_app
from appliance.config import Settings
from appliance.state.app_keys import SERVICES
from appliance.web.ws import command_table

DOCS = Path(__file__).resolve().parents[2] / "docs"
EVENT_KIND = re.compile(r'emit\(\s*"([a-z.]+)"')
SERVER_FRAME = re.compile(r'"type": "([a-z.]+)"')
# `status, code = 413, "too_large"`, `code="unavailable"`, `405: "method_not_allowed"`, and
# the body of an internal error: the codes an API error may carry.
ERROR_CODE = re.compile(
    r'(?:\bcode\s*=\s*(?:\d+,\s*)?|^\s*\d{3}: |"code": )"([a-z_]+)"', re.MULTILINE
)


def _api() -> str:
    # docs/api.md, and one page per feature under docs/api/ (uploads, calls, painter, ...).
    pages = [DOCS / "api.md", *sorted((DOCS / "api").glob("*.md"))]
    return "\n".join(p.read_text(encoding="utf-8") for p in pages)


def test_every_rest_route_is_documented(tmp_path: Path) -> None:
    app = build_app(Settings(data_dir=tmp_path))
    doc = _api()
    missing = []
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource else {}
        path = info.get("path") or info.get("formatter")
        if route.method == "HEAD" or not path:
            continue
        if f"{route.method} {path}" not in doc:
            missing.append(f"{route.method} {path}")
    assert not missing, f"routes without an entry in docs/api.md: {missing}"


def test_every_websocket_command_is_documented(tmp_path: Path) -> None:
    app = build_app(Settings(data_dir=tmp_path))

    doc = _api()
    missing = [t for t in command_table(app[SERVICES]) if f"- `{t}`" not in doc]
    assert not missing, f"frame types without an entry in docs/api.md: {missing}"


def test_every_event_kind_and_server_frame_is_documented() -> None:
    source = "\n".join(
        p.read_text(encoding="utf-8") for p in (DOCS.parent / "appliance").rglob("*.py")
    )
    kinds = set(EVENT_KIND.findall(source))
    frames = set(SERVER_FRAME.findall(source))
    assert {"message.new", "member.join", "user.update"} <= kinds
    doc = _api()
    missing = sorted(k for k in kinds | frames if f"`{k}`" not in doc)
    assert not missing, f"event kinds or frames without an entry in docs/api.md: {missing}"


def test_every_setting_is_documented() -> None:
    doc = (DOCS / "configuration.md").read_text(encoding="utf-8")
    missing = []
    for section in dataclasses.fields(Settings):
        if section.name == "data_dir":
            continue
        for f in dataclasses.fields(
            section.type
            if isinstance(section.type, type)
            else type(getattr(Settings(), section.name))
        ):
            if f"`{section.name}.{f.name}`" not in doc:
                missing.append(f"{section.name}.{f.name}")
    assert not missing, f"settings without an entry in docs/configuration.md: {missing}"


def test_every_error_code_has_a_row_in_the_error_tables() -> None:
    """A client switches on `error.code`: each code the server can send is in docs/api.md."""
    app = DOCS.parent / "appliance"
    source = "\n".join(
        p.read_text(encoding="utf-8")
        for p in app.rglob("*.py")
        if not p.is_relative_to(app / "rtc") and not p.is_relative_to(app / "privileged")
    )
    codes = set(ERROR_CODE.findall(source))
    assert {"bad_request", "too_large", "method_not_allowed", "internal_error"} <= codes
    rows = (DOCS / "api.md").read_text(encoding="utf-8").splitlines()
    listed = {
        code
        for line in rows
        if line.startswith("| `")
        for code in re.findall(r"`([a-z_]+)`", line.split("|")[1])
    }
    missing = sorted(codes - listed)
    assert not missing, f"error codes without a row in docs/api.md's error tables: {missing}"
