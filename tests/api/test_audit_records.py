"""Every personal-data read writes exactly one audit record (REST route, GraphQL field, DataLoader)."""

from __future__ import annotations

from typing import Any

import pytest

from hub import pg
from hub.persons import service as persons_service
from tests.api.actors import cast
from tests.api.conftest import Api, Province
from tests.api.operations import OPS


def _records(province: Province) -> list[tuple[Any, ...]]:
    with pg.connect(province.hub_url) as conn:
        return conn.execute(
            "select action, target_id, request_id, result, actor, channel from hub.audit_log order by at, seq"
        ).fetchall()


def test_each_rest_read_writes_one_record(api: Api, province: Province) -> None:
    c = cast(province)
    reviewer, auditor = c.actors["reviewer"], c.actors["auditor"]
    for op in OPS:
        assert op.rest is not None
        subject = auditor if op.target == "audit" else reviewer
        target = {"person": c.a, "unit": c.x, "audit": 0}[op.target]
        before = len(_records(province))
        r = api.get(subject, op.rest.format(id=target))
        assert r.status_code == 200, (op.name, r.text)
        after = _records(province)
        assert len(after) == before + 1, op.name
        action, target_id, request_id, result, actor, _ = after[-1]
        assert (action, result, actor) == (op.name, "ok", subject.account_id)
        assert request_id == r.headers["x-request-id"]
        if op.target != "audit":
            assert target_id == str(target)


def test_a_refused_read_is_audited_once_too(api: Api, province: Province) -> None:
    c = cast(province)
    before = len(_records(province))
    r = api.get(c.actors["person_b"], f"/api/v1/persons/{c.a}/overview")
    assert r.status_code == 404
    after = _records(province)
    assert len(after) == before + 1
    assert after[-1][:2] == ("person.overview", str(c.a)) and after[-1][3] == "not_found"


def test_each_graphql_field_writes_one_record(api: Api, province: Province) -> None:
    c = cast(province)
    reviewer = c.actors["reviewer"]
    for op in OPS:
        if op.graphql is None:
            continue
        target = c.a if op.target == "person" else c.x
        before = len(_records(province))
        r = api.gql(reviewer, op.graphql, {"id": str(target)})
        assert "errors" not in r.json(), r.text
        after = _records(province)
        assert len(after) == before + 1, op.name
        assert after[-1][0] == op.name


def test_dataloader_batches_and_audits_each_person_once(
    api: Api, province: Province, monkeypatch: pytest.MonkeyPatch
) -> None:
    c = cast(province)
    calls: list[list[int]] = []
    real = persons_service.get_overviews

    async def spy(ctx: Any, ids: Any) -> Any:
        calls.append(list(ids))
        return await real(ctx, ids)

    monkeypatch.setattr(persons_service, "get_overviews", spy)
    before = len(_records(province))
    query = "query($id: ID!) { unit(id: $id) { roster(first: 6) { items { person { overview { name } } } } } }"
    r = api.gql(c.actors["operator_x"], query, {"id": str(c.x)})
    body = r.json()
    assert "errors" not in body, body
    people = [i["person"]["overview"]["name"] for i in body["data"]["unit"]["roster"]["items"]]
    assert len(people) == 6
    assert len(calls) == 1 and len(calls[0]) == 6  # one batch, no N+1
    after = _records(province)[before:]
    assert [a[0] for a in after].count("unit.roster") == 1
    assert [a[0] for a in after].count("person.overview") == 6
    assert len(after) == 7


@pytest.mark.parametrize(
    "query",
    [
        "target_type=%00",  # PostgreSQL text cannot hold NUL: was a 500 (schemathesis, 1,000 examples)
        "target_id=a%00b",
        "target_id=%1F",
        # a cursor whose time no timestamp can hold: base64 of "9223372036854775807.1" (was a 500)
        "cursor=OTIyMzM3MjAzNjg1NDc3NTgwNy4x",
        "cursor=LTkyMjMzNzIwMzY4NTQ3NzU4MDcuMQ",  # "-9223372036854775807.1"
    ],
)
def test_bad_audit_query_inputs_are_refused_not_500(api: Api, province: Province, query: str) -> None:
    r = api.get(cast(province).actors["auditor"], f"/api/v1/audit/records?{query}")
    assert r.status_code in (400, 422), r.text
    assert r.headers["content-type"].startswith("application/problem+json")
