"""Fixtures for the STUN/TURN tests."""

from __future__ import annotations

import pytest

from .fakes import World, make_world


@pytest.fixture
def world() -> World:
    return make_world()
