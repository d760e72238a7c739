"""The person-services tests read the small seeded province of the API tests (core, store, hub DB)."""

from tests.api.conftest import province

__all__ = ["province"]
