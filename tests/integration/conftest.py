"""Fixtures shared by the integration tests."""

from tests.integration.dry_run_helper import helper  # noqa: F401 (a fixture)
