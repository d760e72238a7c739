"""Deadline reminders (`hub unit remind`): one SMS to each unit contact whose annual wage declaration for
the current window is not submitted, within the given days before the window closes; once per unit and
window, however often the command runs."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

import pytest
from psycopg.types.json import Jsonb
from typer.testing import CliRunner

from gateway.cli import app as cli
from hub import pg
from hub.crypto import columns as sealed
from hub.crypto import keys, ring
from hub.messaging import sealed as sms_sealed
from hub.messaging import templates
from hub.units.reminders import remind
from tests.api.conftest import Province
from tests.portal_unit_admin.conftest import new_phone

NOW = datetime(2025, 11, 27, 2, 0, tzinfo=UTC)


@pytest.fixture
def region(province: Province) -> Iterator[dict[str, Any]]:
    """A 统筹区 of its own with five units and its wage-declaration window (dated parameters):
    in force since 2020 the window is 11-01 … 11-30; an older row (since 2010) said 12-31."""
    code = f"49{uuid.uuid4().int % 10_000:04d}"
    base = 48_000_000 + uuid.uuid4().int % 900_000
    phones = {k: new_phone() for k in ("a", "b", "c", "e")}
    units = {
        "a": (base + 1, phones["a"], "1"),  # nothing declared: reminded
        "b": (base + 2, phones["b"], "1"),  # declared and submitted: not reminded
        "c": (base + 3, phones["c"], "1"),  # only a draft: reminded
        "d": (base + 4, "0731-88880000", "1"),  # a landline: cannot be reminded by SMS
        "e": (base + 5, phones["e"], "3"),  # 注销: not reminded
    }
    params = (("WAGE_DECL_START", "2020-01-01", "11-01"), ("WAGE_DECL_END", "2020-01-01", "11-30"),
              ("WAGE_DECL_END", "2010-01-01", "12-31"))  # fmt: skip
    with pg.connect(province.query_url) as conn:
        keyring = ring.for_writing(conn, keys.QUERY_TABLE)
        for unit_id, phone, status in units.values():
            envelope, index = sealed.UNIT_CONTACT_PHONE.seal(keyring, phone, (unit_id,))  # stored sealed, as the sync
            conn.execute(
                "insert into unit_overview (unit_id, name, region_code, status, contact_name, contact_phone_enc, "
                "contact_phone_bidx) values (%s, '提醒测试单位', %s, %s, '联系人', %s, %s)",
                (unit_id, code, status, envelope, index),
            )
        for name, valid_from, value in params:
            conn.execute(
                "insert into region_parameter (kind, region_code, param_key, value) values ('ya_param', %s, %s, %s)",
                (code, f"{name}|{valid_from}", Jsonb({"code": name, "valid_from": valid_from, "value": value})),
            )
        conn.commit()
    with pg.connect(province.hub_url) as conn:
        for key, status in (("b", "submitted"), ("c", "draft")):
            conn.execute(
                "insert into hub.declaration (reference, unit_id, region_code, type, payload, status, "
                "idempotency_key, created_by) values (%s, %s, %s, 'annual_wage', %s, %s, %s, 't')",
                (f"T{uuid.uuid4().hex[:12]}", units[key][0], code, Jsonb({"year": 2025, "rows": []}), status, "k"),
            )
        conn.commit()
    yield {"code": code, "units": units}
    ids = [u[0] for u in units.values()]
    with pg.connect(province.query_url) as conn:
        conn.execute("delete from unit_overview where unit_id = any(%s)", (ids,))
        conn.execute("delete from region_parameter where region_code = %s", (code,))
        conn.commit()
    with pg.connect(province.hub_url) as conn:
        conn.execute("delete from hub.declaration where unit_id = any(%s)", (ids,))
        conn.execute("delete from hub.unit_reminder where unit_id = any(%s)", (ids,))
        keyring = sms_sealed.for_writing(conn)
        conn.execute("delete from hub.sms_message where purpose = 'unit_reminder' and recipient_bidx = any(%s)",
                     ([sms_sealed.number_index(keyring, p) for p in phones.values()],))  # fmt: skip
        conn.commit()


def _run(province: Province, today: date, days: int = 5) -> Any:
    with pg.connect(province.hub_url) as hub, pg.connect(province.query_url) as query:
        result = remind(hub, query, days=days, today=today, now=NOW)
        hub.commit()
    return result


def _sent(province: Province, region: dict[str, Any]) -> list[tuple[str, str, dict[str, str]]]:
    phones = [u[1] for u in region["units"].values()]
    with pg.connect(province.hub_url) as conn:
        found = sms_sealed.messages(conn, "purpose = 'unit_reminder'")
    rows = sorted((m["recipient"], m["template"], m["personalisation"]) for m in found if m["recipient"] in phones)
    return rows


def test_reminders_once_per_unit_and_window(
    province: Province, region: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    units = region["units"]
    # 2025-11-20: 10 days before 11-30, outside "5 days": nothing is sent.
    early = _run(province, date(2025, 11, 20))
    assert early.queued == 0 and _sent(province, region) == []
    assert region["code"] not in early.regions_without_window

    # 2025-11-27: 3 days left. Units a and c are due (b submitted, d landline, e closed): 2 messages.
    first = _run(province, date(2025, 11, 27))
    assert first.queued == 2 and first.submitted == 1 and first.no_mobile == 1
    sent = _sent(province, region)
    assert sorted(s[0] for s in sent) == sorted([units["a"][1], units["c"][1]])
    for _, template, fields in sent:
        body = templates.render(template, fields)
        # The window in force is the 2020 one (11-30), not the older 12-31.
        assert body == "您单位2025年度缴费工资申报将于11月30日截止，目前尚未提交，请及时登录单位网上服务平台办理。"

    # Again, the next day, and through the command line: nothing more.
    second = _run(province, date(2025, 11, 28))
    assert second.queued == 0 and second.already_reminded == 2
    for name, url in (("CORE_DB_URL", province.core_url), ("HUB_DB_URL", province.hub_url),
                      ("QUERY_DB_URL", province.query_url), ("REDIS_URL", province.redis_url)):  # fmt: skip
        monkeypatch.setenv(f"HUB_{name}", url)
    monkeypatch.setenv("HUB_ENVIRONMENT", "test")
    out = CliRunner().invoke(cli, ["unit", "remind", "--days", "5", "--on", "2025-11-29"])
    assert out.exit_code == 0, out.output
    summary = json.loads(out.output.strip().splitlines()[-1])
    assert summary["queued"] == 0 and summary["already_reminded"] == 2
    assert len(_sent(province, region)) == 2

    # After the window closed: nothing.
    assert _run(province, date(2025, 12, 1), days=30).queued == 0
    bad = CliRunner().invoke(cli, ["unit", "remind", "--on", "2025-13-01"])
    assert bad.exit_code == 2 and "日期格式应为" in bad.output
