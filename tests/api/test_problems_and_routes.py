"""problem+json everywhere, unexpected errors masked, and every route authenticated or listed public."""

from __future__ import annotations

import re
from typing import Any

import pytest
from httpx2 import Response

from gateway.api import PUBLIC_PATHS
from hub.persons import service as persons_service
from tests.api.actors import cast
from tests.api.conftest import Api, Province

PROBLEM_KEYS = {"type", "title", "status", "detail", "request_id"}


def _is_problem(r: Response, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = r.json()
    assert set(body) >= PROBLEM_KEYS, body
    assert body["status"] == status
    assert body["request_id"] == r.headers["x-request-id"]
    assert re.search(r"[\u4e00-\u9fff]", str(body["title"])), "user-facing title in Chinese"
    return body


def test_problem_json_shapes(api: Api, province: Province) -> None:
    c = cast(province)
    _is_problem(api.get(None, f"/api/v1/persons/{c.a}/overview"), 401)
    r = api.get(None, f"/api/v1/persons/{c.a}/overview", headers={"Authorization": "Bearer not-a-jwt"})
    assert _is_problem(r, 401)["type"].endswith("/unauthenticated")
    assert r.headers["www-authenticate"].startswith("Bearer")
    _is_problem(api.get(c.actors["person_a"], "/api/v1/persons/abc/overview"), 422)
    _is_problem(api.get(c.actors["person_a"], "/api/v1/no-such-route"), 404)
    given = api.get(None, "/api/v1/persons/1/overview", headers={"X-Request-ID": "client-chosen-id-1"})
    assert given.headers["x-request-id"] == "client-chosen-id-1"


def test_unexpected_errors_are_masked(
    api: Api, province: Province, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    c = cast(province)

    async def boom(*args: object, **kwargs: object) -> object:
        raise RuntimeError("secret internals 430105199001011234")

    monkeypatch.setattr(persons_service, "get_overview", boom)
    monkeypatch.setattr(persons_service, "list_insurance", boom)
    r = api.get(c.actors["person_a"], f"/api/v1/persons/{c.a}/overview")
    body = _is_problem(r, 500)
    assert "secret" not in r.text and "Traceback" not in r.text and "4301" not in r.text
    assert body["type"] == "https://hub.example.gov.cn/problems/internal"
    g = api.gql(c.actors["person_a"], "query($id: ID!) { person(id: $id) { insurance { status } } }", {"id": str(c.a)})
    assert "secret" not in g.text and "4301" not in g.text
    assert g.json()["errors"][0]["extensions"]["type"] == "https://hub.example.gov.cn/problems/internal"
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "RuntimeError" in logged and body["request_id"] in logged
    assert "430105199001011234" not in logged  # tracebacks are logged redacted, once
    assert not any(r.exc_info for r in caplog.records)


def _all_routes(routes: Any) -> list[tuple[str, set[str]]]:
    """(path, methods) of every route, including those of routers added with include_router (FastAPI keeps
    them behind an included-router object whose ``effective_candidates`` lists the real routes)."""
    found: list[tuple[str, set[str]]] = []
    for route in routes:
        candidates = getattr(route, "effective_candidates", None)
        if candidates is not None:
            found.extend(_all_routes(candidates() if callable(candidates) else candidates))
        elif getattr(route, "path", None):
            found.append((route.path, set(getattr(route, "methods", None) or {"GET"})))
    return found


def test_every_route_is_authenticated_or_public(api: Api) -> None:
    """Call every documented operation and every other route without a token: 401 unless listed public."""
    app = api.client.app
    spec = api.client.get("/openapi.json").json()
    calls: list[tuple[str, str]] = []
    for path, methods in spec["paths"].items():
        for method in methods:
            calls.append((method.upper(), re.sub(r"\{[^}]+\}", "1", path)))
    calls.append(("POST", "/graphql"))
    calls.append(("GET", "/graphql"))
    for path, methods in _all_routes(getattr(app, "routes", [])):
        if "{" not in path:
            calls.extend((m, path) for m in sorted(methods) if m != "HEAD")
    assert len(calls) > 12
    assert ("GET", "/portal/unit") in calls  # routes of included routers are walked too
    open_routes = []
    for method, path in calls:
        if path in PUBLIC_PATHS:
            continue
        r = api.client.request(
            method, path, json={"query": "{ asOf }"} if method == "POST" else None, follow_redirects=False
        )
        to_login = r.status_code in (302, 303) and r.headers["location"].startswith("/auth/login")
        if not (r.status_code in (401, 405) or to_login):
            open_routes.append((method, path, r.status_code))
        if r.status_code == 401:
            assert r.headers["content-type"] == "application/problem+json"
    assert open_routes == []


def test_openapi_documents_problem_responses(api: Api) -> None:
    spec = api.client.get("/openapi.json").json()
    assert "Problem" in spec["components"]["schemas"]
    op = spec["paths"]["/api/v1/persons/{person_id}/overview"]["get"]
    assert {"401", "404", "429", "503"} <= set(op["responses"])
    assert "application/problem+json" in op["responses"]["404"]["content"]
    assert op["description"]
