"""The agency workbench pages through the gateway app: who may open them, the queue with its filters and
deadlines, the detail with its changes, claim / approve / return / reject with CSRF, bulk approval of
clean items only, statistics, the holiday calendar and the deadline settings."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import UTC, timedelta
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient

from hub import pg
from hub.access.subject import StaffRole
from hub.declarations import service
from hub.declarations.records import Declaration
from tests.api.conftest import Province
from tests.declarations.kit import unit_operator
from tests.identity.oauthkit import make_app
from tests.portal_staff import kit


@pytest.fixture
def app(staff_province: Province) -> Iterator[Any]:
    built, _ = make_app(staff_province, test_fixed_captcha="TEST", test_fixed_sms_code=kit.CODE)
    yield built


def _client(app: Any) -> TestClient:
    return TestClient(app, raise_server_exceptions=False)


def _unit(province: Province, index: int = 0) -> dict[str, Any]:
    return province.units[index]


def _submit(province: Province, unit_id: int, rows: dict[int, Decimal]) -> Declaration:
    """An annual wage declaration submitted by the unit's operator (service call, real databases)."""
    payload = {"year": kit.YEAR, "rows": [{"person_id": p, "monthly_wage": str(w)} for p, w in rows.items()]}
    with pg.connect(province.hub_url) as hub, pg.connect(province.query_url) as query:
        decl = service.create(hub, query, unit_operator(unit_id), "annual_wage", payload, uuid.uuid4().hex, submit=True)
        hub.commit()
    return decl


def _status(province: Province, declaration_id: int) -> tuple[str, str | None]:
    with pg.connect(province.hub_url) as hub:
        row = hub.execute("select status, claimed_by from hub.declaration where id = %s", (declaration_id,)).fetchone()
    assert row is not None
    return str(row[0]), None if row[1] is None else str(row[1])


def _post(client: TestClient, path: str, page: str, **data: Any) -> Any:
    return client.post(path, data={**kit.csrf(client, page), **data}, follow_redirects=False)


def test_only_staff_with_the_right_role_get_in(app: Any, staff_province: Province) -> None:
    unit = _unit(staff_province)
    with _client(app) as client:
        anonymous = client.get("/portal/staff?type=annual_wage", follow_redirects=False)
        assert anonymous.status_code == 303, anonymous.text
        assert anonymous.headers["location"] == "/auth/login?kind=staff&next=%2Fportal%2Fstaff%3Ftype%3Dannual_wage"

    # A unit operator's session opens the unit pages, never the workbench.
    operator = kit.add_unit_operator(app, staff_province.hub_url, unit["unit_id"])
    with _client(app) as client:
        kit.log_in(client, "unit_operator", operator["login"], "/portal/unit", str(unit["unit_id"]))
        refused = client.get("/portal/staff")
        assert refused.status_code == 403 and "仅供经办机构工作人员使用" in refused.text, refused.text

    # The system administrator keeps the calendar and deadlines but reads no declarations (三员分离).
    sysadmin = kit.add_staff(app, staff_province.hub_url, StaffRole.SYSTEM_ADMIN, (unit["region_code"],), "管理员")
    with _client(app) as client:
        kit.log_in(client, "staff", sysadmin["login"], "/portal/staff/deadlines")
        queue = client.get("/portal/staff")
        assert queue.status_code == 403 and "只有经办机构工作人员可以查看审核工作台" in queue.text
        deadlines = client.get("/portal/staff/deadlines")
        assert deadlines.status_code == 200
        assert 'href="/portal/staff/deadlines" aria-current="page"' in deadlines.text
        assert 'href="/portal/staff/statistics"' not in deadlines.text  # the menu offers only what opens


def test_review_one_declaration(app: Any, staff_province: Province) -> None:
    unit = _unit(staff_province)
    wages = kit.last_wages(staff_province.query_url, unit["unit_id"], kit.YEAR)
    first, second = sorted(wages)[:2]
    # A clean change: the first person's wage up 10 %, the second unchanged.
    new_first = (wages[first] * Decimal("1.1")).quantize(Decimal("0.01"))
    decl = _submit(staff_province, unit["unit_id"], {first: new_first, second: wages[second]})
    rev = kit.add_staff(app, staff_province.hub_url, StaffRole.REVIEWER, (unit["region_code"],), "审核员甲")
    with _client(app) as client:
        kit.log_in(client, "staff", rev["login"], "/portal/staff")
        queue = client.get("/portal/staff?type=annual_wage&holder=unclaimed")
        assert queue.status_code == 200 and decl.reference in queue.text
        # 年度缴费工资申报 has 10 working days (the seeded 限时办结); received today, so 10 are left
        # unless today is itself a non-working day, in which case still 10 (today is never counted).
        row = re.search(rf"{decl.reference}.*?</tr>", queue.text, re.S)
        assert row and '<td class="num">10</td>' in row.group(0) and "待认领" in row.group(0)
        other_region = client.get("/portal/staff?region=999999")
        assert decl.reference not in other_region.text

        page = client.get(f"/portal/staff/declarations/{decl.id}")
        assert page.status_code == 200
        # exactly what changes: each person's last declared wage beside the declared one
        assert f"<td>{wages[first]}</td><td><strong>{new_first}</strong></td>" in page.text
        assert f"<td>{wages[second]}</td><td><strong>{wages[second]}</strong></td>" in page.text
        assert "无审核提示" in page.text
        # times as the reviewer's wall clock shows them (UTC+8, no daylight saving)
        assert decl.submitted_at is not None
        shown = (decl.submitted_at.astimezone(UTC) + timedelta(hours=8)).strftime("%Y-%m-%d %H:%M")
        assert f"<dt>提交时间</dt><dd>{shown}</dd>" in page.text

        forged = client.post(f"/portal/staff/declarations/{decl.id}/claim", follow_redirects=False)
        assert forged.status_code == 403 and _status(staff_province, decl.id) == ("submitted", None)

        path = f"/portal/staff/declarations/{decl.id}"
        claimed = _post(client, f"{path}/claim", path)
        assert claimed.status_code == 303 and _status(staff_province, decl.id) == ("submitted", rev["account_id"])
        no_reason = _post(client, f"{path}/return", path, reason="  ")
        assert no_reason.status_code == 422 and "请填写原因" in no_reason.text
        assert _status(staff_province, decl.id)[0] == "submitted"
        approved = _post(client, f"{path}/approve", path, note="")
        assert approved.status_code == 303 and approved.headers["location"] == "/portal/staff?msg=approved"
        assert _status(staff_province, decl.id)[0] == "approved"
        with pg.connect(staff_province.hub_url) as hub:
            commands = hub.execute(
                "select count(*) from hub.declaration_command where declaration_id = %s", (decl.id,)
            ).fetchone()
        assert commands == (1,)
        assert "已审核通过" in client.get("/portal/staff?msg=approved").text
        again = _post(client, f"{path}/approve", path)
        assert again.status_code == 409 and "审核通过" in again.text


def test_return_and_reject_with_reasons(app: Any, staff_province: Province) -> None:
    unit = _unit(staff_province)
    wages = kit.last_wages(staff_province.query_url, unit["unit_id"], kit.YEAR)
    person = sorted(wages)[2]
    returned = _submit(staff_province, unit["unit_id"], {person: wages[person]})
    rejected = _submit(staff_province, unit["unit_id"], {person: wages[person] + 1})
    rev = kit.add_staff(app, staff_province.hub_url, StaffRole.REVIEWER, (unit["region_code"],))
    with _client(app) as client:
        kit.log_in(client, "staff", rev["login"], "/portal/staff")
        for decl, action, reason, status in (
            (returned, "return", "请补充人员的工资明细", "returned"),
            (rejected, "reject", "重复申报", "rejected"),
        ):
            path = f"/portal/staff/declarations/{decl.id}"
            assert _post(client, f"{path}/claim", path).status_code == 303
            assert _post(client, f"{path}/{action}", path, reason=reason).status_code == 303
            assert _status(staff_province, decl.id)[0] == status
            history = client.get(path).text
            assert reason in history
    with pg.connect(staff_province.hub_url) as hub:
        op = unit_operator(unit["unit_id"])
        assert service.get(hub, op, returned.id).reason == "请补充人员的工资明细"  # the unit sees why


def test_claim_release_assign(app: Any, staff_province: Province) -> None:
    unit = _unit(staff_province)
    wages = kit.last_wages(staff_province.query_url, unit["unit_id"], kit.YEAR)
    person = sorted(wages)[3]
    decl = _submit(staff_province, unit["unit_id"], {person: wages[person]})
    region = (unit["region_code"],)
    first = kit.add_staff(app, staff_province.hub_url, StaffRole.REVIEWER, region, "审核员乙")
    second = kit.add_staff(app, staff_province.hub_url, StaffRole.REVIEWER, region, "审核员丙")
    path = f"/portal/staff/declarations/{decl.id}"
    with _client(app) as client:
        kit.log_in(client, "staff", first["login"], "/portal/staff")
        assert _post(client, f"{path}/claim", path).status_code == 303
        mine = client.get("/portal/staff?holder=mine").text
        assert decl.reference in mine
        assert _post(client, f"{path}/release", path).status_code == 303
        assert _status(staff_province, decl.id) == ("submitted", None)
        assert _post(client, f"{path}/assign", path, reviewer=second["account_id"]).status_code == 303
        assert _status(staff_province, decl.id) == ("submitted", second["account_id"])
        held = client.get(f"/portal/staff?holder={second['account_id']}").text
        assert decl.reference in held and "审核员丙" in held
        taken = _post(client, f"{path}/approve", path)
        assert taken.status_code == 409 and "已由其他审核人员认领" in taken.text


def test_bulk_approves_clean_items_only_and_overdue_is_marked(app: Any, staff_province: Province) -> None:
    unit = _unit(staff_province, 1)
    wages = kit.last_wages(staff_province.query_url, unit["unit_id"], kit.YEAR)
    a, b, c = sorted(wages)[:3]
    clean1 = _submit(staff_province, unit["unit_id"], {a: wages[a]})
    clean2 = _submit(staff_province, unit["unit_id"], {b: wages[b]})
    # Three times the last wage: more than 50 % away, so it carries a review flag.
    flagged = _submit(staff_province, unit["unit_id"], {c: wages[c] * 3})
    with pg.connect(staff_province.hub_url) as hub:
        hub.execute("update hub.declaration set due_date = due_date - 60 where id = %s", (flagged.id,))
        hub.commit()
    rev = kit.add_staff(app, staff_province.hub_url, StaffRole.REVIEWER, (unit["region_code"],))
    with _client(app) as client:
        kit.log_in(client, "staff", rev["login"], "/portal/staff")
        queue = client.get(f"/portal/staff?region={unit['region_code']}")
        assert "超过办结时限未审核的申报：" in queue.text
        row = re.search(rf"{flagged.reference}.*?</tr>", queue.text, re.S)
        assert row and "已超时" in row.group(0)
        overdue_only = client.get("/portal/staff?overdue=1").text
        assert flagged.reference in overdue_only and clean1.reference not in overdue_only

        result = client.post(
            "/portal/staff/bulk-approve",
            data={**kit.csrf(client, "/portal/staff"), "ids": [str(clean1.id), str(clean2.id), str(flagged.id)]},
        )
        assert result.status_code == 200
        assert "已审核通过 2 件" in result.text
        assert flagged.reference in result.text and "申报工资与上次相差超过50%" in result.text
    assert _status(staff_province, clean1.id)[0] == "approved"
    assert _status(staff_province, clean2.id)[0] == "approved"
    assert _status(staff_province, flagged.id) == ("submitted", None)


def test_statistics_count_what_happened(app: Any, staff_province: Province) -> None:
    # Counted per reviewer: a new reviewer's row holds exactly what this test does.
    unit = _unit(staff_province, 2)
    wages = kit.last_wages(staff_province.query_url, unit["unit_id"], kit.YEAR)
    p1, p2 = sorted(wages)[:2]
    d1 = _submit(staff_province, unit["unit_id"], {p1: wages[p1]})
    d2 = _submit(staff_province, unit["unit_id"], {p2: wages[p2]})
    rev = kit.add_staff(app, staff_province.hub_url, StaffRole.REVIEWER, (unit["region_code"],), "审核员丁")
    with _client(app) as client:
        kit.log_in(client, "staff", rev["login"], "/portal/staff")
        for decl, action, extra in ((d1, "approve", {}), (d2, "return", {"reason": "工资有误"})):
            path = f"/portal/staff/declarations/{decl.id}"
            _post(client, f"{path}/claim", path)
            assert _post(client, f"{path}/{action}", path, **extra).status_code == 303
        stats = client.get(f"/portal/staff/statistics?region={unit['region_code']}").text
    by_reviewer = re.search(r"<th scope=\"row\">审核员丁</th>(.*?)</tr>", stats, re.S)
    assert by_reviewer, stats
    cells = re.findall(r'<td class="num">(\d+)</td>', by_reviewer.group(1))
    # this reviewer: received is counted per type only (0 here), finished 2 = approved 1 + returned 1
    assert cells == ["0", "2", "1", "0", "1", "0"]


def test_calendar_and_deadline_settings(app: Any, staff_province: Province) -> None:
    unit = _unit(staff_province)
    reviewer = kit.add_staff(app, staff_province.hub_url, StaffRole.REVIEWER, (unit["region_code"],))
    with _client(app) as client:
        kit.log_in(client, "staff", reviewer["login"], "/portal/staff")
        refused = client.get("/portal/staff/calendar")
        assert refused.status_code == 403 and "维护工作日历" in refused.text
    operator = kit.add_staff(app, staff_province.hub_url, StaffRole.OPERATOR, (unit["region_code"],), "经办员")
    with _client(app) as client:
        kit.log_in(client, "staff", operator["login"], "/portal/staff/calendar?year=2026")
        seeded = client.get("/portal/staff/calendar?year=2026").text
        assert "<td>2026-10-10</td><td>调休上班</td><td>国庆节调休上班</td>" in seeded
        page = "/portal/staff/calendar?year=2030"
        missing = _post(client, "/portal/staff/calendar", page, day="2030-01-02", kind="holiday", note="", source="")
        assert missing.status_code == 422 and "请填写说明和依据" in missing.text
        bad_day = _post(client, "/portal/staff/calendar", page, day="2030-02-30", kind="holiday", note="x", source="y")
        assert bad_day.status_code == 422 and "日期格式不正确" in bad_day.text
        saved = _post(
            client, "/portal/staff/calendar", page, day="2030-01-02", kind="holiday", note="元旦", source="国办发明电"
        )
        assert saved.status_code == 303 and saved.headers["location"] == "/portal/staff/calendar?year=2030&msg=day-set"
        shown = client.get("/portal/staff/calendar?year=2030").text
        assert "<td>2030-01-02</td><td>节假日</td><td>元旦</td><td>国办发明电</td>" in shown
        cleared = _post(client, "/portal/staff/calendar", page, day="2030-01-02", action="clear")
        assert cleared.status_code == 303
        assert "2030-01-02" not in client.get("/portal/staff/calendar?year=2030").text
        assert client.get("/portal/staff/deadlines").status_code == 403  # deadlines: system administrator only

    sysadmin = kit.add_staff(app, staff_province.hub_url, StaffRole.SYSTEM_ADMIN, (unit["region_code"],), "管理员")
    with _client(app) as client:
        kit.log_in(client, "staff", sysadmin["login"], "/portal/staff/deadlines")
        form = "/portal/staff/deadlines"
        too_long = _post(client, form, form, type="unit_contact", valid_from="2031-01-01", days="61", source="指南")
        assert too_long.status_code == 422 and "1至60个工作日" in too_long.text
        saved = _post(client, form, form, type="unit_contact", valid_from="2031-01-01", days="7", source="办事指南2031")
        assert saved.status_code == 303
        listed = client.get(form).text
        assert re.search(
            r"<td>单位银行账户与联系人维护</td><td>2031-01-01</td><td class=\"num\">7</td><td>办事指南2031</td>", listed
        )


def test_a_reviewer_of_another_region_sees_nothing(app: Any, staff_province: Province) -> None:
    unit = _unit(staff_province)
    wages = kit.last_wages(staff_province.query_url, unit["unit_id"], kit.YEAR)
    person = sorted(wages)[4]
    decl = _submit(staff_province, unit["unit_id"], {person: wages[person]})
    stranger = kit.add_staff(app, staff_province.hub_url, StaffRole.REVIEWER, ("999999",))
    path = f"/portal/staff/declarations/{decl.id}"
    with _client(app) as client:
        kit.log_in(client, "staff", stranger["login"], "/portal/staff")
        assert decl.reference not in client.get("/portal/staff").text
        assert client.get(path).status_code == 404
        claimed = _post(client, f"{path}/claim", "/portal/staff")
        assert claimed.status_code == 404
    assert _status(staff_province, decl.id) == ("submitted", None)


def test_auto_approve_rule_is_set_on_the_settings_page(app: Any, staff_province: Province) -> None:
    unit = _unit(staff_province)
    sysadmin = kit.add_staff(app, staff_province.hub_url, StaffRole.SYSTEM_ADMIN, (unit["region_code"],), "管理员")
    form = "/portal/staff/deadlines"

    def contact_change(name: str) -> Declaration:
        with pg.connect(staff_province.hub_url) as hub, pg.connect(staff_province.query_url) as query:
            decl = service.create(
                hub, query, unit_operator(unit["unit_id"]), "unit_contact", {"contact_name": name}, uuid.uuid4().hex,
                submit=True,
            )  # fmt: skip
            hub.commit()
        return decl

    with _client(app) as client:
        kit.log_in(client, "staff", sysadmin["login"], form)
        assert re.search(r"<td>单位银行账户与联系人维护</td><td>未开启</td>", client.get(form).text)
        no_note = _post(client, "/portal/staff/auto-rules", form, type="unit_contact", enabled="1", note=" ")
        assert no_note.status_code == 422 and "请填写规则说明" in no_note.text
        on = _post(client, "/portal/staff/auto-rules", form, type="unit_contact", enabled="1", note="联系人变更风险低")
        assert on.status_code == 303 and on.headers["location"] == "/portal/staff/deadlines?msg=rule-set"
        assert re.search(
            r"<td>单位银行账户与联系人维护</td><td>已开启</td><td>联系人变更风险低</td>", client.get(form).text
        )
        # a clean contact change is approved on submission, by the rule
        assert contact_change("王经办").status.value == "approved"
        off = _post(client, "/portal/staff/auto-rules", form, type="unit_contact", enabled="0", note="恢复人工审核")
        assert off.status_code == 303
        assert contact_change("李经办").status.value == "submitted"
