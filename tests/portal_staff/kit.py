"""A small province of the workbench tests' own (seeded core, backfilled query store with a sync
checkpoint, migrated hub DB), staff and unit accounts, and the login walk through the real pages."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

from fastapi.testclient import TestClient

from hub import pg
from hub.access.subject import StaffRole
from hub.identity import admin
from tests.api.conftest import Province, load_province
from tests.fixtures.servers import Servers
from tests.identity.oauthkit import PW

CODE = "135790"  # the fixed SMS code of the TestClient apps (test_fixed_sms_code)
YEAR = 2025  # the declared contribution year: the seeded province holds 2024 and 2025


@contextmanager
def own_province(servers: Servers, *, persons: int = 30) -> Iterator[Province]:
    """Seeded core (``persons`` persons, 2024–2025), backfilled store (its snapshot is the sync
    checkpoint, so a SyncWorker continues from it), migrated hub DB; all dropped afterwards."""
    from core import db as core_db
    from core import seed
    from hub import migrations
    from sync.backfill import backfill

    tag = uuid.uuid4().hex[:10]
    core, query, hub = (servers.pg_url(f"t_{k}_{tag}") for k in ("wcore", "wquery", "whub"))
    try:
        migrations.upgrade("hubdb", hub)
        core_db.init(core)
        seed.seed(core, persons=persons, years=2)
        migrations.upgrade("query", query)
        backfill(core, query)
        yield load_province(core, query, hub, servers.redis_url)
    finally:
        for url in (core, query, hub):
            pg.drop_database(url)


def new_phone(prefix: str = "136") -> str:
    return f"{prefix}{uuid.uuid4().int % 10**8:08d}"


def add_staff(
    app: Any, hub_url: str, role: StaffRole, regions: tuple[str, ...], name: str = "审核员"
) -> dict[str, str]:
    """A staff account with one role; returns login, phone and account id."""
    rt = app.state.identity
    login, phone = f"st{uuid.uuid4().hex[:8]}", new_phone("138")
    with pg.connect(hub_url) as conn:
        account = admin.bootstrap_staff(
            conn,
            rt.cfg,
            login=login,
            display_name=name,
            phone=phone,
            password=PW,
            role=role,
            region_codes=regions,
            now=rt.clock(),
        )
        conn.commit()
    return {"login": login, "phone": phone, "account_id": account}


def add_unit_operator(app: Any, hub_url: str, unit_id: int) -> dict[str, str]:
    rt = app.state.identity
    login, phone = f"jb{uuid.uuid4().hex[:6]}", new_phone("137")
    with pg.connect(hub_url) as conn:
        admin.insert_unit_operator(conn, rt.cfg, unit_id, login, "经办人", phone, PW, True, rt.clock(), "t")
        conn.commit()
    return {"login": login, "phone": phone}


def hidden(html: str) -> dict[str, str]:
    return dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', html))


def csrf(client: TestClient, path: str = "/auth/login") -> dict[str, str]:
    page = client.get(path)
    assert page.status_code == 200, page.text
    return {k: v for k, v in hidden(page.text).items() if k == "csrf_token"}


def log_in(client: TestClient, kind: str, login: str, next_path: str, unit_code: str = "") -> None:
    """Password (and captcha "TEST"), then the fixed SMS code; leaves the session cookie."""
    form = client.get(f"/auth/login?kind={kind}")
    data = {**hidden(form.text), "kind": kind, "login": login, "password": PW, "captcha": "TEST", "next": next_path}
    if unit_code:
        data["unit_code"] = unit_code
    started = client.post("/auth/login", data=data)
    assert started.status_code == 200, started.text
    done = client.post(
        "/auth/login/verify",
        data={**hidden(started.text), "code": CODE, "next": next_path},
        follow_redirects=False,
    )
    assert done.status_code == 303 and done.headers["location"] == next_path, done.text


def last_wages(query_url: str, unit_id: int, year: int) -> dict[int, Decimal]:
    """Each roster person's declared monthly wage (120) in the unit's last month of ``year``."""
    with pg.connect(query_url) as conn:
        rows: list[tuple[Any, ...]] = conn.execute(
            "select distinct on (person_id) person_id, sum(declared_wage) from contribution_month "
            "where unit_id = %s and insurance = '120' and period between %s and %s "
            "and person_id in (select person_id from unit_roster where unit_id = %s and end_date is null) "
            "group by person_id, period order by person_id, period desc",
            (unit_id, year * 100 + 1, year * 100 + 12, unit_id),
        ).fetchall()
    return {int(p): Decimal(w) for p, w in rows if w is not None}
