"""The one-person forms of the unit portal: fill, check (核对), submit once; inline Chinese errors that
store nothing; another unit's person answered exactly like a missing one."""

from __future__ import annotations

import re
import uuid
from datetime import date

from hub import pg
from hub.crypto import columns as sealed
from hub.ids import make_id_number
from tests.api.conftest import Province
from tests.portal_unit_staff.conftest import Login
from tests.portal_unit_staff.support import declarations, months_ago, open_form, post, query_rows, roster, today


def _new_id(sex: str, birth: date) -> str:
    # A number nobody in the seeded province holds (the seed draws from other address codes' sequences
    # too, so a collision is checked rather than assumed away).
    return make_id_number("110101", birth, uuid.uuid4().int % 499, sex)


def _errors(html: str) -> list[str]:
    return re.findall(r'<span class="bad" id="e-([a-z_]+)">', html)


def test_register_checks_then_submits_once(login: Login, province: Province) -> None:
    unit_id = province.units[1]["unit_id"]
    client = login(unit_id)
    before = len(declarations(province, unit_id))
    number = _new_id("2", date(1990, 5, 17))
    with pg.connect(province.query_url) as conn:
        index = sealed.blind_index(conn, sealed.PERSON_ID_NUMBER, number)
    assert not query_rows(province, "select 1 from person_overview where id_number_bidx = %s", index)
    form = open_form(client, "register")
    values = {"id_number": number, "name": "林晓", "ethnicity": "06", "work_start": "2012-07-01",
              "phone": "13912345678", "position_level": ""}  # fmt: skip
    checked = post(client, "register", form, values, "check")
    assert checked.status_code == 200, checked.text
    # What the number encodes, shown for confirmation: the 17th digit is even (female), born 1990-05-17.
    assert "性别（由身份号码确定）</dt><dd>女" in checked.text
    assert "1990-05-17" in checked.text and "苗族" in checked.text
    assert len(declarations(province, unit_id)) == before  # checking stores nothing

    sent = post(client, "register", form, values, "submit")
    assert sent.status_code == 303 and sent.headers["location"].startswith("/portal/unit/declarations/")
    again = post(client, "register", form, values, "submit")
    assert again.headers["location"] == sent.headers["location"]  # a double submit makes one declaration
    made = declarations(province, unit_id)
    assert len(made) == before + 1
    assert made[-1]["type"] == "person_register" and made[-1]["status"] in ("submitted", "approved")
    assert made[-1]["payload"] == {"id_number": number, "name": "林晓", "ethnicity": "06",
                                   "work_start": "2012-07-01", "phone": "13912345678"}  # fmt: skip
    assert client.get(sent.headers["location"]).status_code == 200


def test_register_bad_input_is_shown_inline_and_stores_nothing(login: Login, province: Province) -> None:
    unit_id = province.units[1]["unit_id"]
    client = login(unit_id)
    before = len(declarations(province, unit_id))
    good = _new_id("1", date(1988, 2, 3))
    bad_check = good[:17] + ("0" if good[17] != "0" else "1")
    form = open_form(client, "register")
    values = {"id_number": bad_check, "name": "", "work_start": "2030-13-01", "phone": "1234"}
    for step in ("check", "submit"):  # a forged submit is checked the same way
        r = post(client, "register", form, values, step)
        assert r.status_code == 422
        assert set(_errors(r.text)) == {"id_number", "name", "work_start", "phone"}
        assert "填写内容有 4 处需要修改" in r.text
        assert "校验位不正确" in r.text and "手机号码应为11位数字" in r.text and "未保存任何内容" in r.text
        assert 'aria-invalid="true"' in r.text and 'role="alert"' in r.text
        assert f'value="{form["key"]}"' in r.text  # the same key goes on, so a later submit is still one
    # Too young: work started before 16 (born 1988-02-03, so 2003-07-01 is at 15).
    r = post(client, "register", form, {**values, "id_number": good, "name": "周六", "work_start": "2003-07-01",
                                        "phone": "13912345678"}, "check")  # fmt: skip
    assert r.status_code == 422 and _errors(r.text) == ["work_start"] and "未满16周岁" in r.text
    # A person already registered in the province is not registered twice.
    some = next(iter(province.persons.values()))
    r = post(client, "register", form, {**values, "id_number": some["id_number"], "name": "某人",
                                        "work_start": "2015-07-01", "phone": "13912345678"}, "check")  # fmt: skip
    assert r.status_code == 422 and "已登记" in r.text
    assert len(declarations(province, unit_id)) == before
    forged = client.post("/portal/unit/staff/register", data={**values, "step": "submit", "key": form["key"]})
    assert forged.status_code == 403  # no CSRF token


def test_enrol_shows_back_pay_and_submits_once(login: Login, province: Province) -> None:
    free = query_rows(
        province,
        "select p.person_id, p.id_number_enc, p.name from person_overview p where not coalesce(p.retired, false) "
        "and not exists (select 1 from unit_roster r where r.person_id = p.person_id and r.end_date is null) "
        "order by p.person_id limit 1",
    )
    assert free, "the seeded province has a registered person insured nowhere"
    with pg.connect(province.query_url) as conn:
        free = sealed.open_column(conn, sealed.PERSON_ID_NUMBER, free, key_at=0, value_at=1)
    person_id, number, name = free[0]
    unit_id = province.units[2]["unit_id"]
    client = login(unit_id)
    before = len(declarations(province, unit_id, "person_enrol"))
    form = open_form(client, "enrol")
    start = months_ago(3)
    values = {"id_number": number, "name": name, "start_date": start.isoformat(), "monthly_wage": "8000"}
    checked = post(client, "enrol", form, values, "check")
    assert checked.status_code == 200, checked.text
    # Starting on the first day of the month three months back: those three months are 补收.
    assert "补收" in checked.text and "共 3 个月" in checked.text
    assert f"<dd>{person_id}</dd>" in checked.text
    sent = post(client, "enrol", form, values, "submit")
    again = post(client, "enrol", form, values, "submit")
    assert sent.status_code == again.status_code == 303
    assert again.headers["location"] == sent.headers["location"]
    made = declarations(province, unit_id, "person_enrol")
    assert len(made) == before + 1
    assert made[-1]["payload"] == {"person_id": person_id, "start_date": start.isoformat(), "monthly_wage": "8000.00"}

    # This month: no 补收 notice at all.
    now = today().replace(day=1).isoformat()
    r = post(client, "enrol", open_form(client, "enrol"), {**values, "start_date": now}, "check")
    assert r.status_code == 200 and "审核办结后将补收" not in r.text and "<dd>" in r.text


def test_enrol_bad_input_and_persons_it_may_not_take(login: Login, province: Province) -> None:
    unit_id = province.units[2]["unit_id"]
    client = login(unit_id)
    before = len(declarations(province, unit_id))
    form = open_form(client, "enrol")
    next_month = months_ago(-1).isoformat()
    r = post(
        client, "enrol", form, {"id_number": "", "name": "", "start_date": next_month, "monthly_wage": "-5"}, "check"
    )
    assert r.status_code == 422
    assert set(_errors(r.text)) == {"id_number", "name", "start_date", "monthly_wage"}
    assert "填写内容有 4 处需要修改" in r.text  # one per field, nothing about fields the form does not have
    assert "参保日期不能晚于本月" in r.text and "必须大于0" in r.text
    # A person insured by another unit now, and a number nobody has: the same answer.
    other_pid, other_number, other_name, _ = roster(province, province.units[0]["unit_id"])[0]
    base = {"start_date": today().replace(day=1).isoformat(), "monthly_wage": "6000"}
    taken = post(client, "enrol", form, {**base, "id_number": other_number, "name": other_name}, "check")
    nobody = post(
        client, "enrol", form, {**base, "id_number": _new_id("1", date(1985, 1, 1)), "name": "无此人"}, "check"
    )
    assert taken.status_code == nobody.status_code == 422
    assert _errors(taken.text) == _errors(nobody.text) == ["id_number"]
    said = [re.findall(r'id="e-id_number">([^<]*)<', r.text) for r in (taken, nobody)]
    assert said[0] == said[1] and len(said[0]) == 1
    assert str(other_pid) not in taken.text
    assert len(declarations(province, unit_id)) == before


def test_stop_shows_refund_and_submits_once(login: Login, province: Province) -> None:
    unit_id = province.units[2]["unit_id"]
    client = login(unit_id)
    person_id, _, name, start = roster(province, unit_id)[-1]
    last = query_rows(
        province, "select max(period) from contribution_month where unit_id = %s and person_id = %s", unit_id, person_id
    )[0][0]
    assert last is not None
    # Stop two months before the last planned month: the months after the stop month are refunded.
    stop_period = (last // 100) * 12 + last % 100 - 1 - 2
    stop = date(stop_period // 12, stop_period % 12 + 1, 15)
    assert stop >= start
    expected = query_rows(
        province,
        "select count(*) from (select period from contribution_month where unit_id = %s and person_id = %s "
        "and period > %s group by period having sum(unit_amount + personal_amount) > 0) m",
        unit_id, person_id, stop.year * 100 + stop.month,
    )[0][0]  # fmt: skip
    assert expected == 2
    before = len(declarations(province, unit_id, "person_stop"))
    form = open_form(client, "stop")
    assert f'<option value="{person_id}">' in client.get("/portal/unit/staff/stop").text
    values = {"person_id": str(person_id), "stop_date": stop.isoformat(), "reason": "调出"}
    checked = post(client, "stop", form, values, "check")
    assert checked.status_code == 200, checked.text
    assert "已核定 2 个月的缴费，审核办结后将退收" in checked.text
    sent = post(client, "stop", form, values, "submit")
    again = post(client, "stop", form, values, "submit")
    assert sent.status_code == 303 and again.headers["location"] == sent.headers["location"]
    made = declarations(province, unit_id, "person_stop")
    assert len(made) == before + 1
    assert made[-1]["payload"] == {"person_id": person_id, "stop_date": stop.isoformat(), "reason": "调出"}
    assert name  # the roster entry had a name to show


def test_stop_bad_input_and_another_units_person(login: Login, province: Province) -> None:
    unit_id = province.units[2]["unit_id"]
    client = login(unit_id)
    before = len(declarations(province, unit_id))
    form = open_form(client, "stop")
    r = post(client, "stop", form, {"person_id": "", "stop_date": "2025-02-30", "reason": "出国"}, "check")
    assert r.status_code == 422 and set(_errors(r.text)) == {"person_id", "stop_date", "reason"}
    other = roster(province, province.units[0]["unit_id"])[0][0]
    theirs = post(client, "stop", form, {"person_id": str(other), "stop_date": "2025-06-30", "reason": "调出"}, "check")
    missing = post(
        client, "stop", form, {"person_id": "999999999", "stop_date": "2025-06-30", "reason": "调出"}, "check"
    )
    assert theirs.status_code == missing.status_code == 422
    assert _errors(theirs.text) == _errors(missing.text) == ["person_id"]
    assert "本单位没有该人员" in theirs.text and "本单位没有该人员" in missing.text
    ancient = post(
        client, "stop", form, {"person_id": str(other), "stop_date": "1066-10-14", "reason": "调出"}, "check"
    )
    assert ancient.status_code == 422 and "停保日期不正确，请核对年份" in ancient.text
    assert len(declarations(province, unit_id)) == before


def test_change_submits_once_and_refuses_empty_or_foreign(login: Login, province: Province) -> None:
    unit_id = province.units[1]["unit_id"]
    client = login(unit_id)
    person_id = roster(province, unit_id)[0][0]
    before = len(declarations(province, unit_id, "person_change"))
    form = open_form(client, "change")
    nothing = post(client, "change", form, {"person_id": str(person_id)}, "check")
    assert nothing.status_code == 422 and "请至少填写一项变更内容" in nothing.text
    bad = post(client, "change", form, {"person_id": str(person_id), "phone": "0531-1234"}, "check")
    assert bad.status_code == 422 and _errors(bad.text) == ["phone"]
    other = roster(province, province.units[0]["unit_id"])[0][0]
    foreign = post(client, "change", form, {"person_id": str(other), "phone": "13700001111"}, "submit")
    assert foreign.status_code == 422 and "本单位没有该人员" in foreign.text
    values = {"person_id": str(person_id), "phone": "13700001111", "ethnicity": "03"}
    checked = post(client, "change", form, values, "check")
    assert checked.status_code == 200 and "回族" in checked.text
    sent = post(client, "change", form, values, "submit")
    again = post(client, "change", form, values, "submit")
    assert sent.status_code == 303 and again.headers["location"] == sent.headers["location"]
    made = declarations(province, unit_id, "person_change")
    assert len(made) == before + 1
    assert made[-1]["payload"] == {"person_id": person_id, "phone": "13700001111", "ethnicity": "03"}


def test_edit_returns_to_the_filled_form(login: Login, province: Province) -> None:
    client = login(province.units[1]["unit_id"])
    form = open_form(client, "change")
    r = post(client, "change", form, {"person_id": "1", "phone": "13700001111"}, "edit")
    assert r.status_code == 200 and 'value="13700001111"' in r.text and "下一步：核对" in r.text
    assert '<label for="f-phone">' in r.text  # every input has its label


def test_retired_page_lists_the_units_retirees_only(login: Login, province: Province) -> None:
    unit_id = province.units[2]["unit_id"]
    client = login(unit_id)
    mine = {
        r[0]
        for r in query_rows(
            province,
            "select p.person_id from person_overview p where p.retired and (select r.unit_id from unit_roster r "
            "where r.person_id = p.person_id order by r.start_date desc limit 1) = %s",
            unit_id,
        )
    }
    others = {
        r[0]
        for r in query_rows(
            province, "select person_id from person_overview where retired and person_id <> all(%s)", list(mine)
        )
    }
    assert mine and others
    page = client.get("/portal/unit/staff/retired")
    assert page.status_code == 200
    shown = {int(x) for x in re.findall(r"<tr><td>(\d+)</td>", page.text)}
    assert shown == mine
    for pid in mine:
        assert province.persons[pid]["id_number"] not in page.text  # ID numbers are masked
