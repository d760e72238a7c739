"""The workbench tests run on a small province of their own (tests/portal_staff/kit.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.api.conftest import Province
from tests.fixtures.servers import Servers
from tests.portal_staff import kit


@pytest.fixture(scope="module")
def staff_province(servers: Servers) -> Iterator[Province]:
    with kit.own_province(servers) as province:
        yield province
