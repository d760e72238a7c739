"""Contract tests: schemathesis over the OpenAPI of ``/app/v1`` (no 5xx, answers match their schemas)."""

from __future__ import annotations

import logging
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import APIOperation
from schemathesis.core.errors import InvalidSchema
from schemathesis.core.result import Err, Ok

from hub.persons import paging
from mobile_api.errors import CODES
from mobile_api.ministry_fixture import MinistryFixture
from tests.api.actors import cast
from tests.api.conftest import Api, Province
from tests.fuzz.sizes import examples
from tests.mobile_api.conftest import app_person, use_ministry


def _ok(result: Ok[APIOperation[Any, Any, Any, Any]] | Err[InvalidSchema]) -> APIOperation[Any, Any, Any, Any]:
    """The operation, or the schema error schemathesis met while building it."""
    if isinstance(result, Err):
        raise result.err()
    return result.ok()


def _operations(api: Api) -> list[Any]:
    spec = api.client.get("/openapi.json").json()
    spec["paths"] = {p: v for p, v in spec["paths"].items() if p.startswith("/app/v1/")}
    schema = schemathesis.openapi.from_dict(spec)
    return [_ok(result) for result in schema.get_all_operations()]


def test_app_operations_never_fail_or_violate_their_schema(
    api: Api, province: Province, ministry: MinistryFixture, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="httpx2")  # fuzzed numbers in request lines are not personal data
    use_ministry(api, ministry, cache_ttl=0, failure_threshold=1000)
    token = api.token(app_person(cast(province).a))
    operations = _operations(api)
    assert len(operations) >= 15
    for operation in operations:
        _fuzz(api, operation, token)


def _fuzz(api: Api, operation: Any, bearer: str) -> None:
    @settings(max_examples=examples(20), deadline=None, suppress_health_check=list(HealthCheck), database=None)
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
        assert response.status_code < 500, (case.path, response.text)
        if response.status_code >= 400:
            body = response.json()
            assert body["code"] in CODES.values(), body
        if response.status_code == 422 and "cursor" in (case.query or {}):
            # Opaque cursors cannot be described by a schema: a well-formed but foreign one is refused.
            assert response.json()["detail"] in ("分页游标无效", "请求参数不正确"), response.text
        case.validate_response(
            response,
            excluded_checks=[schemathesis.checks.not_a_server_error, schemathesis.checks.positive_data_acceptance],
        )

    check()


def test_valid_cursors_of_every_listing_are_accepted(api: Api, province: Province, ministry: MinistryFixture) -> None:
    use_ministry(api, ministry, cache_ttl=0)
    me = app_person(cast(province).a)
    for path in ("/app/v1/ministry/jobs", "/app/v1/ministry/exams", "/app/v1/ministry/job-fairs"):
        assert api.get(None, path, params={"cursor": paging.encode(1)}).status_code == 200
        assert api.get(None, path, params={"cursor": paging.encode(0)}).json()["code"] == "INVALID_REQUEST"
    assert api.get(me, "/app/v1/inbox", params={"cursor": paging.encode(10**6)}).status_code == 200
