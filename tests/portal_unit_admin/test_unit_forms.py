"""单位信息变更申报 and 单位银行账户与联系人维护: the forms show the current (masked) values, submit one
declaration per idempotency key, and refuse bad input with inline Chinese errors, storing nothing."""

from __future__ import annotations

import re
from typing import Any, cast

from psycopg.rows import dict_row

from hub import pg
from hub.crypto import columns as sealed
from hub.declarations import records
from tests.portal_unit_admin.conftest import Portal, hidden


def _count(portal: Portal, unit_id: int, kind: str) -> int:
    with pg.connect(portal.province.hub_url) as conn:
        row = conn.execute(
            "select count(*) from hub.declaration where unit_id = %s and type = %s", (unit_id, kind)
        ).fetchone()
    return cast(int, row[0]) if row else 0  # count(*) is a bigint


def _overview(portal: Portal, unit_id: int) -> dict[str, Any]:
    with pg.connect(portal.province.query_url) as conn, conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            "select unit_id, name, address, contact_phone_enc, bank_account_enc from unit_overview where unit_id = %s",
            (unit_id,),
        )
        rows = sealed.reveal(conn, "unit_overview", cur.fetchall())  # contact phone and bank account decrypted
    assert len(rows) == 1
    return {k: rows[0][k] for k in ("name", "address", "contact_phone", "bank_account")}


def test_unit_change_submits_once_per_key(unit_admin: tuple[Portal, dict[str, Any]]) -> None:
    portal, unit = unit_admin
    client = portal.client
    current = _overview(portal, unit["unit_id"])
    form = client.get("/portal/unit/admin/change")
    assert form.status_code == 200
    assert current["name"] in form.text and current["address"] in form.text  # current values shown
    fields = hidden(form.text)
    assert fields["key"].startswith("ua-")
    before = _count(portal, unit["unit_id"], "unit_change")

    data = {**fields, "name": "", "address": "  芙蓉区  五一大道 100 号 "}
    sent = client.post("/portal/unit/admin/change", data=data, follow_redirects=False)
    assert sent.status_code == 303, sent.text
    again = client.post("/portal/unit/admin/change", data=data, follow_redirects=False)
    assert again.headers["location"] == sent.headers["location"]  # the same key never creates two
    assert _count(portal, unit["unit_id"], "unit_change") == before + 1
    with pg.connect(portal.province.hub_url) as conn:
        decl = records.fetch(conn, int(sent.headers["location"].rsplit("/", 1)[1]))  # the payload opened
        row = (decl.payload, decl.status.value) if decl is not None else None
    assert row is not None
    assert row[0] == {"address": "芙蓉区 五一大道 100 号"}  # empty fields are not changes; spaces folded
    assert row[1] == "submitted"
    assert "单位信息变更" in client.get(sent.headers["location"]).text


def test_unit_change_bad_input_stores_nothing(unit_admin: tuple[Portal, dict[str, Any]]) -> None:
    portal, unit = unit_admin
    client = portal.client
    before = _count(portal, unit["unit_id"], "unit_change")
    fields = hidden(client.get("/portal/unit/admin/change").text)

    empty = client.post("/portal/unit/admin/change", data={**fields, "name": "", "address": ""})
    assert empty.status_code == 422
    assert "请至少填写一项变更内容" in empty.text and 'role="alert"' in empty.text

    too_long = client.post("/portal/unit/admin/change", data={**fields, "name": "长" * 101, "address": ""})
    assert too_long.status_code == 422
    assert re.search(r'id="e-name">单位名称内容过长<', too_long.text)  # inline, next to the field
    assert hidden(too_long.text)["key"] == fields["key"]  # the form keeps its key for the corrected retry

    forged = client.post("/portal/unit/admin/change", data={"key": fields["key"], "address": "某地"})
    assert forged.status_code == 403  # no CSRF token
    assert _count(portal, unit["unit_id"], "unit_change") == before


def test_unit_contact_masked_current_values_and_errors(unit_admin: tuple[Portal, dict[str, Any]]) -> None:
    portal, unit = unit_admin
    client = portal.client
    current = _overview(portal, unit["unit_id"])
    form = client.get("/portal/unit/admin/contact")
    assert form.status_code == 200
    for secret in (current["contact_phone"], current["bank_account"]):
        if secret and len(secret) >= 8:
            assert secret not in form.text  # shown masked, as on the unit's home page
    fields = hidden(form.text)
    before = _count(portal, unit["unit_id"], "unit_contact")

    bad = client.post(
        "/portal/unit/admin/contact",
        data={**fields, "contact_phone": "1391234", "bank_name": "", "bank_account": "12ab"},
    )
    assert bad.status_code == 422
    assert re.search(r'id="e-contact_phone">[^<]*手机号码应为11位数字<', bad.text)
    assert re.search(r'id="e-bank_account">[^<]*格式不正确<', bad.text)
    half = client.post(
        "/portal/unit/admin/contact", data={**fields, "bank_name": "中国工商银行长沙分行", "bank_account": ""}
    )
    assert half.status_code == 422 and "开户银行和银行账号需同时填写" in half.text
    assert _count(portal, unit["unit_id"], "unit_contact") == before

    ok = client.post(
        "/portal/unit/admin/contact",
        data={**fields, "contact_name": "李四", "contact_phone": "139 1234 5678",
              "bank_name": "中国工商银行长沙分行", "bank_account": "6222 0219 0100 1234 567"},
        follow_redirects=False,
    )  # fmt: skip
    assert ok.status_code == 303, ok.text
    with pg.connect(portal.province.hub_url) as conn:
        decl = records.fetch(conn, int(ok.headers["location"].rsplit("/", 1)[1]))  # the payload opened
        row = (decl.payload,) if decl is not None else None
    assert row is not None
    assert row[0] == {
        "contact_name": "李四",
        "contact_phone": "13912345678",
        "bank_name": "中国工商银行长沙分行",
        "bank_account": "6222021901001234567",
    }
    assert _count(portal, unit["unit_id"], "unit_contact") == before + 1


def test_forms_need_a_unit_operator(portal: Portal) -> None:
    r = portal.client.get("/portal/unit/admin/change", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/auth/login")
