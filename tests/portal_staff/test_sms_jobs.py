"""Creating 短信群发 jobs in the workbench: the yearly 个人权益记录 from the query store (one 统筹区 of the
caller's, or all of them) and a staff-written notice to an uploaded CSV or XLSX list; the preview with masked
samples; the creation audited; a faulty list stores nothing; every form needs its CSRF token."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from decimal import Decimal
from typing import Any, cast

import pytest
from fastapi.testclient import TestClient
from openpyxl import Workbook

from hub import pg
from hub.access.subject import StaffRole
from hub.config.sms import SmsSettings
from hub.messaging import sealed as sms_sealed
from sms import jobs
from tests.api.conftest import Province
from tests.identity.oauthkit import make_app
from tests.portal_staff import kit

NEW = "/portal/staff/sms/new"
COST_PER_SEGMENT = Decimal("0.045")  # SmsSettings.cost_per_segment (yuan per billed segment)


@pytest.fixture
def app(staff_province: Province) -> Iterator[Any]:
    built, _ = make_app(staff_province, test_fixed_captcha="TEST", test_fixed_sms_code=kit.CODE)
    yield built


def _regions(province: Province) -> list[str]:
    return sorted({str(p["region_code"]) for p in province.persons.values()})


def _token(client: TestClient) -> str:
    return kit.hidden(client.get(NEW).text)["csrf_token"]


def _jobs(province: Province) -> list[tuple[Any, ...]]:
    with pg.connect(province.hub_url) as conn:
        return conn.execute("select id, kind, title, created_by from hub.sms_job order by id").fetchall()


def _job_of(response: Any) -> int:
    assert response.status_code == 303, response.text
    found = re.fullmatch(r"/portal/staff/sms/(\d+)\?created=1", response.headers["location"])
    assert found is not None, response.headers["location"]
    return int(found.group(1))


def _messages(province: Province, job_id: int) -> list[tuple[Any, ...]]:
    with pg.connect(province.hub_url) as conn:
        found = sms_sealed.messages(conn, "job_id = %s", (job_id,))  # sealed at rest: opened here
    return sorted((m["recipient"], m["personalisation"], m["mandatory"]) for m in found)


def _audited(province: Province, job_id: int, action: str) -> list[tuple[Any, ...]]:
    with pg.connect(province.hub_url) as conn:
        return conn.execute(
            "select actor, result from hub.audit_log where action = %s and target_type = 'sms_job' and target_id = %s",
            (f"sms.job.{action}", str(job_id)),
        ).fetchall()


def test_rights_statement_job_for_one_region_with_preview_and_audit(app: Any, staff_province: Province) -> None:
    regions = _regions(staff_province)
    mine = regions[0]
    creator = kit.add_staff(app, staff_province.hub_url, StaffRole.OPERATOR, (mine,))
    reviewer = kit.add_staff(app, staff_province.hub_url, StaffRole.REVIEWER, (mine,))
    # Expected recipients: phones and names from the core (ac01), the 2025 statements from the query store.
    with pg.connect(staff_province.query_url) as q:
        with_statement = {
            cast(int, r[0])  # rights_statement.person_id is a bigint
            for r in q.execute("select distinct person_id from rights_statement where year = %s", (kit.YEAR,))
        }
    with pg.connect(staff_province.core_url) as core:
        people = cast(
            list[tuple[int, str | None, str]],  # bigint, nullable varchar, varchar
            core.execute("select aac001, aac067, aac003 from core.ac01 where aaa027 = %s", (mine,)).fetchall(),
        )
    names = {str(phone): str(name) for _, phone, name in people if phone}
    expected = {
        str(phone)
        for pid, phone, _ in people
        if int(pid) in with_statement and phone and re.fullmatch(r"1[3-9]\d{9}", str(phone))
    }
    assert expected, "the seeded province has insured persons with phones in the region"
    before = len(_jobs(staff_province))
    with TestClient(app, raise_server_exceptions=False) as client:
        kit.log_in(client, "staff", creator["login"], NEW)
        form = client.get(NEW)
        assert form.status_code == 200 and f'<option value="{kit.YEAR}">' in form.text
        # a 统筹区 the caller is not responsible for is refused, nothing created
        others = [r for r in regions if r != mine] or ["439999"]
        refused = client.post(
            f"{NEW}/rights", data={"csrf_token": _token(client), "year": str(kit.YEAR), "region": others[0]}
        )
        assert refused.status_code == 422 and "本人负责的统筹区" in refused.text
        # a year offered but without statements in the store (the province holds 2024 and 2025) makes no job
        empty_year = kit.YEAR - 3
        assert f'<option value="{empty_year}">' in form.text
        empty = client.post(f"{NEW}/rights", data={"csrf_token": _token(client), "year": str(empty_year)})
        assert empty.status_code == 422 and "未创建任务" in empty.text
        assert len(_jobs(staff_province)) == before

        created = client.post(
            f"{NEW}/rights",
            data={"csrf_token": _token(client), "year": str(kit.YEAR), "region": mine},
            follow_redirects=False,
        )
        job_id = _job_of(created)
        assert "准备收件人名单中" in client.get(f"/portal/staff/sms/{job_id}?created=1").text
        # the sms worker prepares the job (jobs.fill, a batch per transaction) until it is a draft
        with pg.connect(staff_province.hub_url) as conn, pg.connect(staff_province.query_url) as q:
            while (step := jobs.fill(conn, q, SmsSettings(), 5)) is not None and not step.finished:
                pass
        detail = client.get(f"/portal/staff/sms/{job_id}?created=1")
        assert detail.status_code == 200 and "群发任务已创建" in detail.text and "示例短信" in detail.text

    messages = _messages(staff_province, job_id)
    assert {str(m[0]) for m in messages} == expected
    assert all(m[2] for m in messages)  # the rights statement is a mandatory notice
    with pg.connect(staff_province.hub_url) as conn:
        job = conn.execute(
            "select kind, status, recipients, segments, cost_estimate, created_by from hub.sms_job where id = %s",
            (job_id,),
        ).fetchone()
    assert job is not None
    # text, text, integer, integer, numeric, text
    kind, status, recipients, segments, cost, created_by = cast(tuple[str, str, int, int, Decimal, str], job)
    assert (kind, status, recipients, created_by) == ("rights_statement", "draft", len(expected), creator["account_id"])
    assert Decimal(cost) == segments * COST_PER_SEGMENT  # cost = billed segments × 0.045 yuan
    # samples: the phone masked, the name masked (张三丰 → 张*丰), never in full
    samples = re.findall(r"<li>(1\d\d\*\*\*\*\d{4})：(【湖南社保】尊敬的[^<]*)</li>", detail.text)
    assert samples
    for masked_phone, body in samples:
        phone = next(p for p in expected if p[:3] + "****" + p[-4:] == masked_phone)
        full = names[phone]
        shown = full[0] + "*" + (full[-1] if len(full) > 2 else "")
        assert f"尊敬的{shown}：" in body and phone not in detail.text
        if len(full) > 1:
            assert f"尊敬的{full}：" not in body
    assert _audited(staff_province, job_id, "create") == [(creator["account_id"], "ok:preparing")]

    # the draft waits for a second person; the reviewer's approval is audited too
    with TestClient(app, raise_server_exceptions=False) as client:
        page = f"/portal/staff/sms/{job_id}"
        kit.log_in(client, "staff", reviewer["login"], page)
        token = kit.hidden(client.get(page).text)["csrf_token"]
        assert client.post(f"{page}/approve", data={"csrf_token": token}, follow_redirects=False).status_code == 303
    assert _audited(staff_province, job_id, "approve") == [(reviewer["account_id"], "ok")]


CSV_OK = "手机号码,姓名\n13912340001,张三丰\n13912340002,李四\n"
NOTICE = "{姓名}您好，请于12月5日前到经办大厅核对参保信息。"


def _notice(client: TestClient, data: bytes, filename: str, **fields: str) -> Any:
    form = {"csrf_token": _token(client), "title": "参保信息核对", "body": NOTICE, **fields}
    return client.post(f"{NEW}/notice", data=form, files={"file": (filename, data)}, follow_redirects=False)


def test_notice_from_a_csv_list(app: Any, staff_province: Province) -> None:
    creator = kit.add_staff(app, staff_province.hub_url, StaffRole.OPERATOR, tuple(_regions(staff_province)))
    with TestClient(app, raise_server_exceptions=False) as client:
        kit.log_in(client, "staff", creator["login"], NEW)
        job_id = _job_of(_notice(client, CSV_OK.encode(), "名单.csv"))
        detail = client.get(f"/portal/staff/sms/{job_id}")
    contents = {str(m[0]): m[1]["content"] for m in _messages(staff_province, job_id)}
    # names are masked in the text as the templates mask them: 张三丰 → 张*丰, 李四 → 李*
    assert contents == {
        "13912340001": "张*丰您好，请于12月5日前到经办大厅核对参保信息。",
        "13912340002": "李*您好，请于12月5日前到经办大厅核对参保信息。",
    }
    # As sent (not mandatory, so the opt-out hint follows): 【湖南社保】 6 + 张*丰您好，… 26 + 拒收请回复R 6
    # = 38 UTF-16 units ≤ 70: one segment each; two recipients → 2 segments, 2 × 0.045 = 0.09 yuan.
    with pg.connect(staff_province.hub_url) as conn:
        job = conn.execute(
            "select kind, source, template, recipients, segments, cost_estimate from hub.sms_job where id = %s",
            (job_id,),
        ).fetchone()
    assert job == ("notice", "upload", "staff_notice", 2, 2, Decimal("0.0900"))
    assert "139****0001：【湖南社保】张*丰您好，请于12月5日前到经办大厅核对参保信息。拒收请回复R" in detail.text
    assert "13912340001" not in detail.text
    assert _audited(staff_province, job_id, "create") == [(creator["account_id"], "ok:2")]


def test_notice_from_an_xlsx_list_mandatory(app: Any, staff_province: Province) -> None:
    creator = kit.add_staff(app, staff_province.hub_url, StaffRole.REVIEWER, tuple(_regions(staff_province)))
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["手机号码", "姓名", "备注"])
    sheet.append([13912340011, "王五", "不用的列"])  # a phone typed as a number is read as its digits
    sheet.append(["13912340012", "欧阳明月", ""])
    buffer = io.BytesIO()
    book.save(buffer)
    with TestClient(app, raise_server_exceptions=False) as client:
        kit.log_in(client, "staff", creator["login"], NEW)
        job_id = _job_of(_notice(client, buffer.getvalue(), "list.xlsx", mandatory="1"))
    messages = _messages(staff_province, job_id)
    assert [(str(m[0]), m[1]["content"], m[2]) for m in messages] == [
        ("13912340011", "王*您好，请于12月5日前到经办大厅核对参保信息。", True),
        ("13912340012", "欧*月您好，请于12月5日前到经办大厅核对参保信息。", True),
    ]


def test_a_faulty_list_stores_nothing_and_names_every_row(app: Any, staff_province: Province) -> None:
    creator = kit.add_staff(app, staff_province.hub_url, StaffRole.OPERATOR, tuple(_regions(staff_province)))
    faulty = (
        "手机号码,姓名\n"
        "13912340021,赵六\n"  # row 2: fine
        "1391234002,钱七\n"  # row 3: ten digits
        "13912340023,\n"  # row 4: the name the text refers to is missing
        "13912340021,孙八\n"  # row 5: the phone of row 2 again
    )
    before = len(_jobs(staff_province))
    with TestClient(app, raise_server_exceptions=False) as client:
        kit.log_in(client, "staff", creator["login"], NEW)
        response = _notice(client, faulty.encode(), "名单.csv")
        assert response.status_code == 422
        assert "3 处错误" in response.text and "本次未保存任何数据" in response.text
        assert "第3行A列（手机号码）：手机号码格式不正确" in response.text
        assert "第4行B列（姓名）：请填写“姓名”" in response.text
        assert "第5行A列（手机号码）：手机号码与第2行重复" in response.text
        assert "1391234002" not in response.text  # phones only masked, even wrong ones
        assert "参保信息核对" in response.text  # the form keeps what was typed

        missing = _notice(client, "电话号码,名字\n13912340031,周九\n".encode(), "名单.csv")
        assert missing.status_code == 422 and "手机号码" in missing.text and "姓名" in missing.text
        not_a_sheet = _notice(client, b"PK\x03\x04 not really a zip", "名单.xlsx")
        assert 400 <= not_a_sheet.status_code < 500
        gbk = "手机号码,姓名\n13912340041,吴十\n".encode("gb18030")  # Excel's CSV on Chinese Windows: read fine
        assert _job_of(_notice(client, gbk, "名单.csv"))
    assert len(_jobs(staff_province)) == before + 1  # only the GB18030 list made a job


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("【湖南社保】请核对参保信息。", "【】"),
        ("您的验证码为{验证码}。", "验证码"),
        ("", "请填写通知正文"),
        ("{姓名}您好，" + "请核对参保信息。" * 60, "正文过长"),
        ("{手机号码}您好", "不能引用手机号码"),
    ],
)
def test_notice_text_checks(app: Any, staff_province: Province, body: str, message: str) -> None:
    creator = kit.add_staff(app, staff_province.hub_url, StaffRole.OPERATOR, tuple(_regions(staff_province)))
    before = len(_jobs(staff_province))
    with TestClient(app, raise_server_exceptions=False) as client:
        kit.log_in(client, "staff", creator["login"], NEW)
        response = _notice(client, CSV_OK.encode(), "名单.csv", body=body)
    assert response.status_code == 422 and message in response.text
    assert len(_jobs(staff_province)) == before


def test_forms_need_the_csrf_token_and_a_staff_role(app: Any, staff_province: Province) -> None:
    creator = kit.add_staff(app, staff_province.hub_url, StaffRole.OPERATOR, tuple(_regions(staff_province)))
    before = len(_jobs(staff_province))
    with TestClient(app, raise_server_exceptions=False) as client:
        kit.log_in(client, "staff", creator["login"], NEW)
        no_token = client.post(
            f"{NEW}/notice",
            data={"title": "x", "body": NOTICE},
            files={"file": ("名单.csv", CSV_OK.encode())},
            follow_redirects=False,
        )
        assert no_token.status_code == 403
        rights = client.post(f"{NEW}/rights", data={"year": str(kit.YEAR)}, follow_redirects=False)
        assert rights.status_code == 403
    assert len(_jobs(staff_province)) == before
    unit = staff_province.units[0]
    operator = kit.add_unit_operator(app, staff_province.hub_url, unit["unit_id"])
    with TestClient(app, raise_server_exceptions=False) as client:
        kit.log_in(client, "unit_operator", operator["login"], "/portal/unit", str(unit["unit_id"]))
        assert client.get(NEW).status_code == 403
