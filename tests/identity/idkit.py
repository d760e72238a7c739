"""Typed helpers for the identity tests: settings, a movable clock, core rows, connections, the outbox."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import psycopg
import redis

from hub import ids, pg
from hub.config.auth import AuthSettings
from hub.identity import core_lookup
from hub.identity.config import IdentityConfig
from hub.messaging import sealed as sms_sealed
from tests.conftest import Databases

REGION = "430102"  # 长沙市芙蓉区, the 统筹区 of the test rows
ID_REGION = "110105"  # 北京市朝阳区: stdnum's GB/T 2260 table knows it for every birth year used here
T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai


@dataclass
class MovableClock:
    now: datetime = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now


def auth_settings(**overrides: Any) -> AuthSettings:
    """Test settings: a Redis prefix of its own (tests share one Redis) and cookies over http."""
    values: dict[str, Any] = {"redis_prefix": f"t:{uuid.uuid4().hex[:10]}:", "cookie_secure": False}
    values.update(overrides)
    return AuthSettings(**values)


def config(**overrides: Any) -> IdentityConfig:
    return IdentityConfig.from_settings(auth_settings(**overrides))


@dataclass(frozen=True)
class CorePerson:
    person_id: int
    id_number: str
    name: str
    phone: str | None


@dataclass
class Core:
    persons: dict[str, CorePerson] = field(default_factory=dict)
    unit_id: int = 1
    uscc: str = ""


def person_number(seq: int, sex: str = "1", birth: date = date(1980, 5, 17)) -> str:
    return ids.make_id_number(ID_REGION, birth, seq, sex)


def build_core(url: str) -> Core:
    """One region, agency and unit, and persons: zhang (working, phone), li (retired, phone), wang (no phone)."""
    core = Core()
    with pg.connect(url) as conn:
        conn.execute(
            "insert into core.ya_region (aaa027, name, province_code) values (%s, '长沙市芙蓉区', '430000')", (REGION,)
        )
        conn.execute(
            "insert into core.ae10 (aaz001, aae044, aaa027, address, phone, longitude, latitude, opening_hours) "
            "values (1, '芙蓉区社会保险服务中心', %s, '长沙市芙蓉区五一大道1号', '0731-12333', 112.98, 28.19, '{}')",
            (REGION,),
        )
        core.uscc = ids.make_uscc("11", REGION, 12345678)
        conn.execute(
            "insert into core.ab01 (aab001, uscc, aab004, aab019, funding, collection, aab034, aaa027, contact_name, "
            "contact_phone, address) values (%s, %s, '芙蓉区教育局', '30', '1', '1', 1, %s, '王芳', '13700000000', "
            "'五一大道1号')",
            (core.unit_id, core.uscc, REGION),
        )
        rows = [
            ("zhang", 1001, person_number(1), "张三", "13912345678", "0"),
            ("li", 1002, person_number(2, "2", date(1960, 3, 9)), "李四妹", "13887654321", "1"),
            ("wang", 1003, person_number(3), "王五", None, "0"),
            ("zhao", 1004, person_number(4), "赵六", "0731-8888888", "0"),
        ]
        for key, pid, number, name, phone, retired in rows:
            conn.execute(
                "insert into core.ac01 (aac001, aac002, aac003, aac004, aac006, aac007, aac067, aaa027, aac084) "
                "values (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
                (
                    pid,
                    number,
                    name,
                    ids.id_sex(number),
                    ids.id_birth_date(number),
                    date(2002, 7, 1),
                    phone,
                    REGION,
                    retired,
                ),
            )
            core.persons[key] = CorePerson(pid, number, name, phone)
        conn.commit()
    return core


@contextmanager
def connections(dbs: Databases) -> Iterator[tuple[psycopg.Connection[Any], psycopg.Connection[Any], redis.Redis]]:
    r = redis.Redis.from_url(dbs.redis_url, socket_timeout=1)
    with pg.connect(dbs.hub_url) as hub, core_lookup.read_only(dbs.core_url) as core:
        yield hub, core, r
    r.close()


def sent_messages(hub: psycopg.Connection[Any], phone: str | None = None) -> list[dict[str, Any]]:
    """Messages in the outbox (newest last), optionally for one recipient."""
    found = sms_sealed.messages(hub)  # the numbers and fields are sealed at rest: opened here
    hub.commit()
    return [
        {
            "to": m["recipient"],
            "template": m["template"],
            "fields": m["personalisation"],
            "priority": m["priority"],
            "purpose": m["purpose"],
        }
        for m in found
        if phone is None or m["recipient"] == phone
    ]


def last_code(hub: psycopg.Connection[Any], phone: str) -> str:
    messages = [m for m in sent_messages(hub, phone) if "code" in m["fields"]]
    assert messages, "no code was sent to this phone"
    return str(messages[-1]["fields"]["code"])
