"""Fixtures of the at-rest tests: the person-request tests' world (seeded core, real sync, hub DB, the core's
command API as a real process), which the declaration and collection flows share."""

from __future__ import annotations

from tests.declarations.conftest import world
from tests.persons_requests.conftest import core_api, env

__all__ = ["core_api", "env", "world"]
