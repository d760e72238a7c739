"""Batch 人员基本信息登记 and 人员停保 by Excel: template, a file with row errors (nothing stored, an annotated
workbook), a clean file previewed and submitted once, every row a declaration."""

from __future__ import annotations

import io
import re
import uuid
from datetime import date
from typing import Any

from fastapi.testclient import TestClient
from openpyxl import load_workbook

from hub.ids import make_id_number
from tests.api.conftest import Province
from tests.portal_unit_staff.conftest import Login, hidden
from tests.portal_unit_staff.support import declarations, query_rows, roster

# Columns of the registration template: 公民身份号码, 姓名, 性别, 民族, 出生日期, 参加工作日期, 手机号码,
# 人员身份, 起薪日期, 起薪当月工资.
# Columns of the stop template: 个人编号, 公民身份号码, 姓名, 停保日期, 停保原因, 备注.


def _csrf(client: TestClient, kind: str) -> dict[str, str]:
    page = client.get(f"/portal/unit/staff/batch/{kind}")
    assert page.status_code == 200
    return {k: v for k, v in hidden(page.text).items() if k == "csrf_token"}


def _template(client: TestClient, kind: str) -> Any:
    r = client.get(f"/portal/unit/staff/batch/{kind}/template.xlsx")
    assert r.status_code == 200 and r.content[:2] == b"PK"
    return load_workbook(io.BytesIO(r.content))


def _upload(client: TestClient, kind: str, wb: Any) -> Any:
    out = io.BytesIO()
    wb.save(out)
    return client.post(
        f"/portal/unit/staff/batch/{kind}/upload",
        data=_csrf(client, kind),
        files={"file": (f"{kind}.xlsx", out.getvalue(), "application/octet-stream")},
    )


def _submit(client: TestClient, kind: str, token: str) -> Any:
    return client.post(
        f"/portal/unit/staff/batch/{kind}/submit", data={**_csrf(client, kind), "token": token}, follow_redirects=False
    )


def _fresh(sex: str, birth: date) -> str:
    while True:
        number = make_id_number("110102", birth, uuid.uuid4().int % 499, sex)
        if number[17] != "X":
            return number


def test_batch_registration(login: Login, province: Province) -> None:
    unit_id = province.units[1]["unit_id"]
    client = login(unit_id)
    before = len(declarations(province, unit_id, "person_register"))
    a, b = _fresh("1", date(1991, 3, 9)), _fresh("2", date(1993, 11, 20))
    known = next(p for p in province.persons.values() if p["work_start"] and p["birth_date"])
    taken, taken_sex = known["id_number"], "男" if known["sex"] == "1" else "女"
    wb = _template(client, "register")
    ws = wb.active
    rows: list[list[object]] = [
        [a, "高远", "男", "汉族", "1991-03-09", "2014-07-01", "13800001111", "公务员", "2025-01-01", 7200],
        [
            b,
            "宋雨",
            "男",
            "回族",
            "1993-11-20",
            "2016-08-01",
            "13800002222",
            "事业单位工作人员",
            "2025-02-01",
            "6800.5",
        ],
        [
            taken,
            "重复",
            taken_sex,
            "汉族",
            known["birth_date"].isoformat(),
            known["work_start"].isoformat(),
            "",
            "公务员",
            "2025-01-01",
            6000,
        ],
    ]
    for r, values in enumerate(rows, start=2):
        for c, value in enumerate(values, start=1):
            ws.cell(r, c).value = value
    faulty = _upload(client, "register", wb)
    assert faulty.status_code == 422
    # Row 3 says 男 for an even 17th digit; row 4 is someone already registered and has no phone.
    assert "第3行C列（性别）：性别与公民身份号码不符" in faulty.text
    assert re.search(r"第4行A列（公民身份号码）：[^<]*已", faulty.text)
    assert "第4行G列（手机号码）：手机号码不能为空" in faulty.text
    assert "未保存任何内容" in faulty.text
    link = re.search(r'href="(/portal/unit/staff/batch/annotated/[^"]+)"', faulty.text)
    assert link
    annotated = client.get(link.group(1))
    assert annotated.status_code == 200 and annotated.content[:2] == b"PK"
    assert len(declarations(province, unit_id, "person_register")) == before

    ws.cell(3, 3).value = "女"
    ws.delete_rows(4)
    clean = _upload(client, "register", wb)
    assert clean.status_code == 200, clean.text
    assert "预览：共 2 人" in clean.text and a not in clean.text  # ID numbers masked in the preview
    token = hidden(clean.text)["token"]
    sent = _submit(client, "register", token)
    again = _submit(client, "register", token)
    assert sent.status_code == again.status_code == 303
    made = declarations(province, unit_id, "person_register")
    assert len(made) == before + 2  # the second submit made none
    assert {m["payload"]["id_number"] for m in made[-2:]} == {a, b}
    assert {m["payload"].get("ethnicity", "01") for m in made[-2:]} == {"01", "03"}


def test_batch_stop(login: Login, province: Province) -> None:
    unit_id = province.units[0]["unit_id"]
    client = login(unit_id)
    staff = roster(province, unit_id)
    before = len(declarations(province, unit_id, "person_stop"))
    wb = _template(client, "stop")
    ws = wb.active
    listed = {str(ws.cell(r, 1).value) for r in range(2, ws.max_row + 1)}
    assert listed == {str(p[0]) for p in staff}  # pre-filled with the roster
    first, second = 2, 3
    ws.cell(first, 4).value = "2025-06-30"
    ws.cell(first, 5).value = "辞职"
    ws.cell(second, 4).value = "2025-06-30"
    ws.cell(second, 5).value = "出国"  # not one of the reasons
    ws.cell(second + 1, 3).value = "别人"  # a name changed without a stop: not a request, so no error
    faulty = _upload(client, "stop", wb)
    assert faulty.status_code == 422
    assert f"第{second}行E列（停保原因）" in faulty.text and f"第{first}行" not in faulty.text
    assert len(declarations(province, unit_id, "person_stop")) == before

    ws.cell(second, 4).value = None
    ws.cell(second, 5).value = None
    clean = _upload(client, "stop", wb)
    assert clean.status_code == 200, clean.text
    assert "预览：共 1 人" in clean.text
    person_id = int(ws.cell(first, 1).value)
    months = query_rows(
        province,
        "select count(*) from (select period from contribution_month where unit_id = %s and person_id = %s "
        "and period > 202506 group by period having sum(unit_amount + personal_amount) > 0) m",
        unit_id,
        person_id,
    )[0][0]
    assert re.search(rf'<td class="num">{months}</td>', clean.text)
    sent = _submit(client, "stop", hidden(clean.text)["token"])
    again = _submit(client, "stop", hidden(clean.text)["token"])
    assert sent.status_code == again.status_code == 303
    made = declarations(province, unit_id, "person_stop")
    assert len(made) == before + 1
    assert made[-1]["payload"] == {"person_id": person_id, "stop_date": "2025-06-30", "reason": "辞职"}


def test_batch_refusals(login: Login, province: Province) -> None:
    unit_id = province.units[0]["unit_id"]
    client = login(unit_id)
    before = len(declarations(province, unit_id))
    renamed = client.post(
        "/portal/unit/staff/batch/stop/upload",
        data=_csrf(client, "stop"),
        files={"file": ("stop.xlsx", b"MZ\x90\x00" + b"\x00" * 300, "application/octet-stream")},
    )
    assert renamed.status_code == 415 and 'role="alert"' in renamed.text
    untouched = _upload(client, "stop", _template(client, "stop"))
    assert untouched.status_code == 422 and "没有需要停保的人员" in untouched.text
    stale = _submit(client, "stop", "no-such-token")
    assert stale.status_code == 422 and "预览已过期" in stale.text
    # Another unit's preview token is useless here.
    assert client.get("/portal/unit/staff/batch/annotated/no-such-token").status_code == 404
    assert len(declarations(province, unit_id)) == before
