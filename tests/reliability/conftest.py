"""The reliability tests read the small seeded province of the API tests."""

from tests.api.conftest import province

__all__ = ["province"]
