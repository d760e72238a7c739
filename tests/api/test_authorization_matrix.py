"""Every operation × every caller × the other party's ids: no unexpected success, and a refusal that
is byte-identical to the answer for a record that does not exist (request id aside)."""

from __future__ import annotations

from typing import Any

from tests.api.actors import MISSING_PERSON, MISSING_UNIT, Cast, cast
from tests.api.conftest import Api, Province
from tests.api.operations import OPS, Op

UNIT_OPERATOR_PERSON_OPS = {"person.overview", "person.insurance", "person.contributions"}


def expected(c: Cast, actor: str, op: Op, target: int) -> bool:
    """The oracle, written from the rules' prose rather than from the code."""
    if op.target == "audit":
        return actor == "auditor"
    if op.target == "unit":
        return (actor, target) in {("operator_x", c.x), ("operator_y", c.y), ("reviewer", c.x)}
    if target == MISSING_PERSON:
        return False
    if actor in ("person_a", "kiosk", "hotline"):
        return target == c.a  # the hotline speaks the card's status (its number masked), as 12333 does
    if actor in ("person_b", "app"):
        return target == c.b
    if actor == "operator_x":
        return target == c.a and op.name in UNIT_OPERATOR_PERSON_OPS
    if actor == "operator_y":
        return target == c.b and op.name in UNIT_OPERATOR_PERSON_OPS
    if actor == "reviewer":
        return target == c.a  # A lives in X's 统筹区, B in Y's
    return False


def _strip(body: Any) -> Any:
    if isinstance(body, dict):
        return {k: _strip(v) for k, v in body.items() if k != "request_id"}
    if isinstance(body, list):
        return [_strip(v) for v in body]
    return body


def _targets(c: Cast, op: Op) -> list[int]:
    if op.target == "person":
        return [c.a, c.b, MISSING_PERSON]
    if op.target == "unit":
        return [c.x, c.y, MISSING_UNIT]
    return [0]


def test_rest_matrix(api: Api, province: Province) -> None:
    c = cast(province)
    checked = 0
    for actor, subject in c.actors.items():
        for op in OPS:
            assert op.rest is not None
            missing = None
            for target in reversed(_targets(c, op)):  # the missing one first, as the reference answer
                r = api.get(subject, op.rest.format(id=target))
                allowed = expected(c, actor, op, target)
                if allowed:
                    assert r.status_code == 200, (actor, op.name, target, r.text)
                    continue
                assert r.status_code == 404, (actor, op.name, target, r.status_code, r.text)
                assert r.headers["content-type"] == "application/problem+json"
                if missing is None:
                    missing = (r.headers.get("content-length"), _strip(r.json()))
                assert (r.headers.get("content-length"), _strip(r.json())) == missing, (actor, op.name, target)
                checked += 1
    assert checked > 100


def test_graphql_matrix(api: Api, province: Province) -> None:
    c = cast(province)
    checked = 0
    for actor, subject in c.actors.items():
        for op in OPS:
            if op.graphql is None:
                continue
            missing = None
            for target in reversed(_targets(c, op)):
                r = api.gql(subject, op.graphql, {"id": str(target)})
                assert r.status_code == 200, r.text
                body = r.json()
                if expected(c, actor, op, target):
                    assert "errors" not in body, (actor, op.name, target, body)
                    assert body["data"] is not None
                    continue
                assert "errors" in body, (actor, op.name, target, body)
                assert [e["extensions"]["type"] for e in body["errors"]] == [
                    "https://hub.example.gov.cn/problems/not-found"
                ], body
                if missing is None:
                    missing = _strip(body)
                assert _strip(body) == missing, (actor, op.name, target)
                checked += 1
    assert checked > 80
