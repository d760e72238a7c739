"""The seeded province of the API tests, for the gateway's fast-path comparisons."""

from tests.api.conftest import province  # noqa: F401 (a session fixture, shared)
