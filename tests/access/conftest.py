"""The seeded province and API client of tests/api, shared with the access tests."""

from __future__ import annotations

from tests.api.conftest import api, province

__all__ = ["api", "province"]
