"""REST reads over the seeded query store: shapes, as_of, pagination and filters."""

from __future__ import annotations

from tests.api.actors import cast
from tests.api.conftest import Api, Province


def test_a_person_reads_their_own_records_with_as_of(api: Api, province: Province) -> None:
    c = cast(province)
    me = c.actors["person_a"]
    overview = api.get(me, f"/api/v1/persons/{c.a}/overview")
    assert overview.status_code == 200, overview.text
    body = overview.json()
    assert body["as_of"].count(":") == 2
    assert body["data"]["person_id"] == c.a
    full = province.persons[c.a]["id_number"]
    assert body["data"]["id_number"] == full[:3] + "*" * 11 + full[-4:]
    for path in ("insurance", "accounts", "benefit", "benefit/payments", "card", "rights-statement"):
        r = api.get(me, f"/api/v1/persons/{c.a}/{path}")
        assert r.status_code == 200, (path, r.text)
        assert r.json()["as_of"] == body["as_of"]


def test_contributions_are_paged_by_cursor_and_filtered(api: Api, province: Province) -> None:
    c = cast(province)
    me = c.actors["person_a"]
    everything = api.get(me, f"/api/v1/persons/{c.a}/contributions", params={"limit": 200}).json()["data"]
    assert everything, "seeded person has contributions"
    seen: list[int] = []
    cursor = None
    while True:
        params: dict[str, object] = {"limit": 7}
        if cursor:
            params["cursor"] = cursor
        page = api.get(me, f"/api/v1/persons/{c.a}/contributions", params=params).json()
        seen += [row["detail_id"] for row in page["data"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [row["detail_id"] for row in everything]
    assert len(seen) == len(set(seen))
    periods = [row["period"] for row in everything]
    assert periods == sorted(periods, reverse=True)
    year = everything[0]["period"] // 100
    basic = api.get(me, f"/api/v1/persons/{c.a}/contributions", params={"year": year, "insurance": "120"}).json()
    assert basic["data"] and all(r["insurance"] == "120" and r["period"] // 100 == year for r in basic["data"])
    bad = api.get(me, f"/api/v1/persons/{c.a}/contributions", params={"cursor": "@@@"})
    assert bad.status_code == 422
    assert bad.headers["content-type"] == "application/problem+json"


def test_accounts_basic_and_annuity(api: Api, province: Province) -> None:
    c = cast(province)
    me = c.actors["person_a"]
    both = api.get(me, f"/api/v1/persons/{c.a}/accounts").json()["data"]
    assert {r["account"] for r in both} == {"BASIC", "ANNUITY"}
    annuity = api.get(me, f"/api/v1/persons/{c.a}/accounts", params={"account": "ANNUITY"}).json()["data"]
    assert annuity and all(r["account"] == "ANNUITY" for r in annuity)


def test_unit_operator_pages_the_roster_and_month_totals(api: Api, province: Province) -> None:
    c = cast(province)
    op = c.actors["operator_x"]
    roster_ids: list[int] = []
    cursor = None
    while True:
        params: dict[str, object] = {"limit": 5}
        if cursor:
            params["cursor"] = cursor
        page = api.get(op, f"/api/v1/units/{c.x}/roster", params=params).json()
        roster_ids += [r["person_id"] for r in page["data"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert sorted(roster_ids) == sorted(province.units[0]["persons"])
    totals = api.get(op, f"/api/v1/units/{c.x}/month-totals", params={"insurance": "120"}).json()["data"]
    assert totals and all(t["insurance"] == "120" for t in totals)
    overview = api.get(op, f"/api/v1/units/{c.x}/overview").json()["data"]
    assert overview["unit_id"] == c.x
    # The operator sees their staff's contribution rows of their own unit only.
    rows = api.get(op, f"/api/v1/persons/{c.a}/contributions", params={"limit": 200}).json()["data"]
    assert rows and all(r["unit_id"] == c.x for r in rows)
