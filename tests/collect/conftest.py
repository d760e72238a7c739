"""Fixtures of the collection tests: the declaration tests' world (seeded core, real sync, hub DB), the core
API as a real process behind the outbox worker, and a valid collection."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest

from hub.declarations.config import DeclarationSettings
from hub.declarations.outbox import OutboxWorker
from hub.ids import make_id_number, make_uscc
from tests.declarations import kit
from tests.declarations.conftest import World, world

__all__ = ["world"]


@pytest.fixture
def worker(world: World) -> Iterator[OutboxWorker]:
    with kit.core_api(world.dbs.core_url) as api:
        w = OutboxWorker(world.dbs.hub_url, world.dbs.query_url, DeclarationSettings(core_api_url=api.url))
        yield w
        w.close()


def collection(seq: int = 0) -> dict[str, Any]:
    """A unit of 统筹区 370102 with two active staff (insured from 2025-01 at 10,000 and 8,000) and one
    retiree. ID numbers and the USCC are valid (check digits computed by hub.ids)."""
    return {
        "unit": {
            "uscc": make_uscc("11", kit.REGION, 900 + seq),
            "name": "历下区档案馆",
            "unit_type": "30",
            "funding": "1",
            "region_code": kit.REGION,
            "address": "泉城路100号",
            "contact_name": "周敏",
            "contact_phone": f"137{uuid.uuid4().int % 10**8:08d}",
        },
        "staff": [
            {
                "id_number": make_id_number("370102", date(1985, 3, 1), 10 + seq, "1"),
                "name": "陈一",
                "work_start": "2008-07-01",
                "phone": "13900000001",
                "start_date": "2025-01-01",
                "monthly_wage": "10000",
            },
            {
                "id_number": make_id_number("370102", date(1985, 3, 1), 20 + seq, "2"),
                "name": "陈二",
                "work_start": "2009-07-01",
                "phone": "13900000002",
                "start_date": "2025-03-01",
                "monthly_wage": "8000",
            },
        ],
        "retirees": [
            {
                "id_number": make_id_number("370100", date(1955, 3, 1), 30 + seq, "2"),
                "name": "陈三",
                "work_start": "1975-07-01",
                "retire_date": "2010-03-31",
            }
        ],
    }
