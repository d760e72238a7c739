"""schemathesis over the OpenAPI document (no 5xx, responses match their schemas) and fuzzed GraphQL (no 5xx)."""

from __future__ import annotations

import logging
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.api.actors import cast
from tests.api.conftest import Api, Province


def _operations(api: Api) -> list[Any]:
    spec = api.client.get("/openapi.json").json()
    spec["paths"] = {p: v for p, v in spec["paths"].items() if p.startswith("/api/v1/")}
    schema = schemathesis.openapi.from_dict(spec)
    return [result.ok() for result in schema.get_all_operations()]


def test_openapi_operations_never_fail_or_violate_their_schema(
    api: Api, province: Province, caplog: pytest.LogCaptureFixture
) -> None:
    # The test client's request lines would carry the fuzzed ids, random numbers that can look like a
    # mobile number to the whole-run log scan (tests/logscan.py); they are inputs, not personal data.
    caplog.set_level(logging.WARNING, logger="httpx2")
    c = cast(province)
    token = api.token(c.actors["reviewer"])
    auditor = api.token(c.actors["auditor"])
    api.client.app.state.consistency_timeout = 0.05  # type: ignore[attr-defined]  # fuzzed tokens: do not wait
    operations = _operations(api)
    assert len(operations) >= 12
    for operation in operations:
        _fuzz(api, operation, auditor if "/audit/" in operation.path else token)


def _fuzz(api: Api, operation: Any, bearer: str) -> None:
    @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(case=operation.as_strategy())
    def check(case: Any) -> None:
        kwargs = case.as_transport_kwargs(headers={"Authorization": f"Bearer {bearer}"})
        kwargs.pop("base_url", None)
        if not kwargs.get("cookies"):
            kwargs.pop("cookies", None)
        url = kwargs.pop("url")
        path = url.split("://", 1)[-1]
        path = path[path.index("/") :] if "://" in url else url
        response = api.client.request(**kwargs, url=path)
        # 503 is the documented answer to a consistency token the store has not reached (within the wait).
        waited = response.status_code == 503 and response.json()["type"].endswith("/service-unavailable")
        assert response.status_code < 500 or waited, (case.path, response.text)
        if response.status_code == 422:
            # Opaque cursors cannot be described by a schema: a well-formed but foreign one is refused.
            assert response.json()["detail"] in ("分页游标无效", "请求参数不正确"), response.text
        case.validate_response(
            response,
            excluded_checks=[schemathesis.checks.not_a_server_error, schemathesis.checks.positive_data_acceptance],
        )

    check()


_ID = st.one_of(st.integers(min_value=-(2**70), max_value=2**70).map(str), st.text(max_size=30))


@pytest.mark.parametrize("field", ["overview { name }", "contributions(first: 3) { nextCursor }", "card { cardNo }"])
def test_graphql_with_odd_ids_never_fails(api: Api, province: Province, field: str) -> None:
    me = cast(province).actors["person_a"]

    @settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(pid=_ID, first=st.integers(min_value=-(2**40), max_value=2**40), after=st.text(max_size=40))
    def check(pid: str, first: int, after: str) -> None:
        q = "query($id: ID!) { person(id: $id) { " + field + " } }"
        q2 = (
            "query($id: ID!, $f: Int, $a: String) "
            "{ person(id: $id) { contributions(first: $f, after: $a) { nextCursor } } }"
        )
        for r in (api.gql(me, q, {"id": pid}), api.gql(me, q2, {"id": pid, "f": first, "a": after})):
            assert r.status_code < 500, r.text
            for error in r.json().get("errors", []):
                assert "internal" not in error.get("extensions", {}).get("type", ""), error

    check()
