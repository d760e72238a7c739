"""Helpers of the unit-staff tests: form round trips and the facts the seeded stores hold."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient

from hub import pg
from hub.crypto import columns as sealed
from hub.crypto import payloads
from tests.api.conftest import Province
from tests.portal_unit_staff.conftest import hidden


def today() -> date:
    return datetime.now(UTC).astimezone(ZoneInfo("Asia/Shanghai")).date()


def months_ago(n: int) -> date:
    d = today()
    index = d.year * 12 + d.month - 1 - n
    return date(index // 12, index % 12 + 1, 1)


def open_form(client: TestClient, slug: str) -> dict[str, str]:
    """The hidden fields (CSRF token and idempotency key) of a freshly shown form."""
    page = client.get(f"/portal/unit/staff/{slug}")
    assert page.status_code == 200, page.text
    fields = hidden(page.text)
    assert fields.get("key") and fields.get("csrf_token")
    return fields


def post(client: TestClient, slug: str, form: dict[str, str], values: dict[str, str], step: str) -> Any:
    return client.post(f"/portal/unit/staff/{slug}", data={**form, **values, "step": step}, follow_redirects=False)


def declarations(province: Province, unit_id: int, type_: str | None = None) -> list[dict[str, Any]]:
    with pg.connect(province.hub_url) as conn:
        rows = conn.execute(
            "select id, type, payload_enc, payload, status from hub.declaration where unit_id = %s "
            "and (%s::text is null or type = %s) order by id",
            (unit_id, type_, type_),
        ).fetchall()
        # The payload is sealed at rest (hub.crypto.payloads): opened here as the review pages open it.
        return [
            {"id": r[0], "type": r[1], "payload": payloads.opened(conn, payloads.DECLARATION, r[0], r[2], r[3]),
             "status": r[4]}
            for r in rows
        ]  # fmt: skip


def query_rows(province: Province, sql: str, *args: object) -> list[tuple[Any, ...]]:
    with pg.connect(province.query_url) as conn:
        return conn.execute(sql, args).fetchall()


def roster(province: Province, unit_id: int) -> list[tuple[int, str, str, date]]:
    """(person_id, id_number, name, start_date) of the unit's open relations (ID numbers decrypted)."""
    rows = query_rows(
        province,
        "select p.person_id, p.id_number_enc, p.name, r.start_date from unit_roster r join person_overview p "
        "using (person_id) where r.unit_id = %s and r.end_date is null order by p.person_id",
        unit_id,
    )
    with pg.connect(province.query_url) as conn:
        opened = sealed.open_column(conn, sealed.PERSON_ID_NUMBER, rows, key_at=0, value_at=1)
    return [(int(a), str(b), str(c), d) for a, b, c, d in opened]
