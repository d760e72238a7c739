"""The person lists from a spreadsheet: the template, a hand-made workbook read back to the same collection,
a wrong header, a bad ID number on row 7 named by sheet, row and column (with the other errors of the file),
a file over the size limit, a file that is not a spreadsheet, and the same through the offline version's
form (SQLite) and the online form up to the preview."""

from __future__ import annotations

import io
import re
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook

from hub.collect import package, upload
from hub.collect.local import LocalStore
from hub.declarations import records
from hub.ids import make_id_number
from hub.wagefile.config import WagefileSettings
from portal_web.collect import local_app
from tests.collect.conftest import collection, collection_rows, workbook
from tests.declarations.conftest import World
from tests.identity.oauthkit import make_app
from tests.portal_staff.kit import CODE, hidden

SETTINGS = WagefileSettings()


def test_template_has_a_sheet_per_list_and_notes() -> None:
    wb = load_workbook(io.BytesIO(upload.template()))
    assert wb.sheetnames == ["在职人员", "离退休人员", "填写说明"]
    staff_sheet, retiree_sheet = wb["在职人员"], wb["离退休人员"]
    assert [c.value for c in staff_sheet[1]] == [
        "公民身份号码*", "姓名*", "参加工作时间*", "手机号码*", "参保日期*", "月缴费工资（元）*", "民族代码",
        "职务职级",
    ]  # fmt: skip
    assert [c.value for c in retiree_sheet[1]] == [
        "公民身份号码*", "姓名*", "参加工作时间*", "离退休日期*", "手机号码", "民族代码",
    ]  # fmt: skip
    assert staff_sheet["A2"].number_format == "@"  # ID numbers as text: 18 digits do not survive as a number
    notes = "\n".join(str(c.value) for c in wb["填写说明"]["A"] if c.value)
    assert "示例" in notes and "每个工作表最多5000人" in notes
    # The blank template itself has nobody on it.
    with pytest.raises(upload.UploadRefused, match="文件中没有人员"):
        upload.read_lists(upload.template(), SETTINGS)


def test_hand_made_workbook_round_trip() -> None:
    payload = collection()
    staff, retirees = collection_rows(payload)
    staff[1] += ["01", "一级主任科员"]
    staff[1][5] = "8,000.50"  # text with a thousands separator
    lists = upload.read_lists(workbook(staff, retirees), SETTINGS)
    assert lists.staff == [
        {
            "id_number": payload["staff"][0]["id_number"], "name": "陈一", "work_start": "2008-07-01",
            "phone": "13900000001", "start_date": "2025-01-01", "monthly_wage": "10000.00",
        },
        {
            "id_number": payload["staff"][1]["id_number"], "name": "陈二", "work_start": "2009-07-01",
            "phone": "13900000002", "start_date": "2025-03-01", "monthly_wage": "8000.50", "ethnicity": "01",
            "position_level": "一级主任科员",
        },
    ]  # fmt: skip
    assert lists.retirees == [
        {"id_number": payload["retirees"][0]["id_number"], "name": "陈三", "work_start": "1975-07-01",
         "retire_date": "2010-03-31"},
    ]  # fmt: skip
    # The same collection as the pasted lines would give (the wage changed on purpose above).
    canonical = package.canonical({"unit": payload["unit"], "staff": lists.staff, "retirees": lists.retirees})
    expected = package.canonical(payload)
    expected["staff"][1] |= {"monthly_wage": "8000.50", "position_level": "一级主任科员"}
    assert canonical == expected
    assert Decimal(canonical["staff"][1]["monthly_wage"]) == Decimal("8000.50")


def test_filled_template_round_trip() -> None:
    payload = collection()
    wb = load_workbook(io.BytesIO(upload.template()))
    staff, retirees = collection_rows(payload)
    for sheet, people in (("在职人员", staff), ("离退休人员", retirees)):
        for r, values in enumerate(people, start=2):
            for c, value in enumerate(values, start=1):
                wb[sheet].cell(row=r, column=c, value=value)
    out = io.BytesIO()
    wb.save(out)
    lists = upload.read_lists(out.getvalue(), SETTINGS)
    given = {"unit": payload["unit"], "staff": lists.staff, "retirees": lists.retirees}
    assert package.canonical(given) == package.canonical(payload)


def test_wrong_header_is_named_with_its_sheet() -> None:
    payload = collection()
    staff, retirees = collection_rows(payload)
    header = ["身份证号码", "姓名", "工作时间", "手机号码", "参保日期", "月缴费工资"]  # 参加工作时间 renamed
    with pytest.raises(upload.UploadRefused) as caught:
        upload.read_lists(workbook(staff, retirees, staff_header=header), SETTINGS)
    assert caught.value.messages == ["工作表“在职人员”：第1行表头缺少必填列：“参加工作时间”，请使用系统下载的模板"]


def _person(seq: int) -> list[Any]:
    return [make_id_number("370102", date(1985, 1, 1), seq, "1"), f"职工{seq}", "2003-07-01", "13800000000",
            "2025-01-01", 6000]  # fmt: skip


def test_every_error_named_by_sheet_row_and_column() -> None:
    good = make_id_number("370102", date(1985, 1, 1), 77, "1")
    bad = good[:-1] + ("0" if good[-1] != "0" else "1")  # wrong check digit
    staff = [_person(seq) for seq in range(1, 6)]  # rows 2 to 6
    staff.append([bad, "王七", "2003-07-01", "13800000000", "2025-01-01", 6000])  # row 7
    staff.append([*_person(8)[:4], "2001-01-01", 6000])  # row 8: insured before starting work
    staff.append([*_person(9)[:5], "六千"])  # row 9: not an amount
    staff.append([int(_person(10)[0][:-1] + "0"), *_person(10)[1:]])  # row 10: ID stored as a number
    staff.append(_person(2))  # row 11: the person of row 3 again
    retirees = [[_person(4)[0], "职工4", "2003-07-01", "2024-12-31"]]  # on both lists
    with pytest.raises(upload.UploadRefused) as caught:
        upload.read_lists(workbook(staff, retirees), SETTINGS)
    assert caught.value.messages == [
        "工作表“在职人员”第7行A列（公民身份号码）：公民身份号码校验位不正确",
        "工作表“在职人员”第8行E列（参保日期）：参保日期不能早于参加工作时间",
        "工作表“在职人员”第9行F列（月缴费工资（元））：应填写金额数字，如 6500.00（不要填写单位或其他文字）",
        "工作表“在职人员”第10行A列（公民身份号码）：公民身份号码被存成了数字，末几位可能已丢失，请将该列设为文本格式后重新填写",
        "工作表“在职人员”第11行A列（公民身份号码）：与第3行是同一人，每人只能填写一行",
        "工作表“离退休人员”第2行A列（公民身份号码）：与工作表“在职人员”第5行是同一人，每人只能填写在一个名单中",
    ]


def test_a_file_over_the_size_limit_is_refused() -> None:
    payload = collection()
    data = workbook(*collection_rows(payload))
    small = WagefileSettings(max_file_bytes=len(data) - 1)
    with pytest.raises(upload.UploadRefused) as caught:
        upload.read_lists(data, small)
    assert caught.value.status == 413 and caught.value.messages == [
        f"文件大小超过上限 {len(data) - 1} 字节，请拆分后分批上传"
    ]
    assert upload.read_lists(data, WagefileSettings(max_file_bytes=len(data))).staff  # exactly at the limit


def test_a_file_that_is_not_a_spreadsheet_is_refused() -> None:
    text = "公民身份号码,姓名\n370102198001010010,王五\n".encode()  # a CSV saved as 名单.xlsx
    with pytest.raises(upload.UploadRefused) as caught:
        upload.read_lists(text, SETTINGS)
    assert caught.value.status == 415
    assert caught.value.messages[0].startswith("文件内容不是 Excel（xlsx、xls）或 ODS 电子表格")
    with pytest.raises(upload.UploadRefused, match="实际是PDF 文档"):
        upload.read_lists(b"%PDF-1.7\n" + bytes(200), SETTINGS)


# Through the forms ---------------------------------------------------------------------------------


def _unit_fields(payload: dict[str, Any]) -> dict[str, str]:
    return {k: v for k, v in payload["unit"].items() if k != "contact_phone"}


def test_offline_form_takes_theworkbook(tmp_path: Path) -> None:
    db = tmp_path / "unit.sqlite"
    store = LocalStore(db)
    store.unlock("offline-upload-passphrase")
    payload = collection()
    staff, retirees = collection_rows(payload)
    fields = _unit_fields(payload) | {"contact_phone": payload["unit"]["contact_phone"], "staff": "", "retirees": ""}
    limit = 64 * 1024
    with TestClient(local_app(store, upload_settings=WagefileSettings(max_file_bytes=limit)),
                    base_url="http://127.0.0.1") as client:  # fmt: skip
        form = client.get("/")
        assert 'type="file"' in form.text and 'href="/template"' in form.text
        template = client.get("/template")
        assert template.status_code == 200 and template.content.startswith(b"PK")
        assert "filename*=UTF-8''" in template.headers["content-disposition"]
        token = hidden(form.text)
        bad_staff = [*staff, ["370102198001010011", "王七", "2003-07-01", "13800000000", "2025-01-01", 6000]]
        refused = client.post(
            "/", data={**token, **fields}, files={"workbook": ("名单.xlsx", workbook(bad_staff, retirees))}
        )
        assert refused.status_code == 422
        assert "工作表“在职人员”第4行A列（公民身份号码）：公民身份号码校验位不正确" in refused.text
        assert store.load() is None  # nothing saved
        renamed = client.post("/", data={**token, **fields}, files={"workbook": ("名单.xlsx", b"id,name\n1,2\n")})
        assert renamed.status_code == 422 and "文件内容不是 Excel" in renamed.text
        too_large = client.post(
            "/", data={**token, **fields}, files={"workbook": ("名单.xlsx", b"PK\x03\x04" + bytes(limit))}
        )
        assert too_large.status_code == 422 and "文件大小超过上限" in too_large.text
        assert store.load() is None
        saved = client.post("/", data={**token, **fields}, files={"workbook": ("名单.xlsx", workbook(staff, retirees))})
        assert saved.status_code == 200, re.findall(r'<li class="bad">([^<]*)', saved.text)
        assert "已通过检查并保存" in saved.text and "陈三" in saved.text and "10000.00" in saved.text
    assert store.load() == package.canonical(payload)


@pytest.fixture
def app(world: World) -> Any:
    made, _ = make_app(world.dbs, test_fixed_captcha="TEST", test_fixed_sms_code=CODE)
    return made


def test_online_form_takes_the_workbook_to_the_preview(world: World, app: Any) -> None:
    payload = collection()
    phone = payload["unit"]["contact_phone"]
    staff, retirees = collection_rows(payload)
    with TestClient(app) as client:
        template = client.get("/portal/collect/template")
        assert template.status_code == 200 and template.headers["content-type"] == upload.XLSX_TYPE
        start = client.get("/portal/collect")
        sent = client.post("/portal/collect", data={**hidden(start.text), "phone": phone, "captcha": "TEST"})
        client.post("/portal/collect/verify", data={**hidden(sent.text), "code": CODE})
        form = client.get("/portal/collect/form")
        assert form.status_code == 200 and 'enctype="multipart/form-data"' in form.text
        fields = {**hidden(form.text), **_unit_fields(payload), "staff": "", "retirees": ""}
        wrong = [*staff[:1], [staff[1][0], "陈二", "2009-07-01", "13900000002", "2025-03-01", -5]]
        refused = client.post("/portal/collect/form", data=fields, files={"workbook": ("x.xlsx", workbook(wrong, []))})
        assert refused.status_code == 422
        assert "工作表“在职人员”第3行F列（月缴费工资（元））：金额必须大于0" in refused.text
        # Both ways stay: the unit part wrong and the lists from the file come back as lines in the form.
        no_name = fields | {"name": ""}
        again = client.post(
            "/portal/collect/form", data=no_name, files={"workbook": ("x.xlsx", workbook(staff, retirees))}
        )
        assert again.status_code == 422 and "单位名称" in again.text
        assert f"{payload['staff'][0]['id_number']},陈一,2008-07-01" in again.text
        preview = client.post(
            "/portal/collect/form", data=fields, files={"workbook": ("x.xlsx", workbook(staff, retirees))}
        )
        assert preview.status_code == 200, re.findall(r'<li class="bad">([^<]*)', preview.text)
        assert "陈一" in preview.text and "陈三" in preview.text and "10000.00" in preview.text
        assert "确认提交" in preview.text
        done = client.post("/portal/collect/submit", data=hidden(preview.text))
        assert done.status_code == 200 and "已提交" in done.text
    stored = [  # sealed at rest: read through the records, which open the envelope
        records.fetch(world.hub, int(row[0])).payload  # type: ignore[union-attr]
        for row in world.hub.execute("select id from hub.declaration").fetchall()
    ]
    world.hub.rollback()
    assert stored == [package.canonical(payload)]
