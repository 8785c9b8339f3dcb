"""The network Chromium sees in a loopback-only namespace (`chromium_sees_a_network`) does
not change while browser tests run: Chromium aborts every request in flight with
ERR_NETWORK_CHANGED when an address appears, and a page that loses its scripts or its
`/api/me` that way never shows the app."""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.e2e.conftest import VETH, veth_addresses


def test_the_browsers_network_is_final_before_the_first_page(
    chromium_sees_a_network: set[str] | None,
) -> None:
    if chromium_sees_a_network is None:
        pytest.skip("not in a loopback-only network namespace of our own (make test runs in one)")
    assert veth_addresses() == chromium_sees_a_network == {f"{VETH[0]} 192.0.2.1/24"}
    for name in VETH:
        shown = subprocess.run(
            ["ip", "-j", "-d", "link", "show", "dev", name],
            check=True,
            capture_output=True,
            text=True,
        )
        (link,) = json.loads(shown.stdout)
        # No IPv6 link-local address is on its way (it would come once duplicate address
        # detection is done, a second or two after the link came up).
        assert link["inet6_addr_gen_mode"] == "none", link
        assert "LOWER_UP" in link["flags"], link
