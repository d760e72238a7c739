"""GraphQL refuses 100 aliases, depth 20, batches, and introspection in production."""

from __future__ import annotations

from tests.api.actors import cast
from tests.api.conftest import Api, Province, make_api


def _errors(r: object) -> list[str]:
    body = r.json()  # type: ignore[attr-defined]
    return [e["message"] for e in body.get("errors", [])]


def test_aliases_depth_and_tokens_are_limited(api: Api, province: Province) -> None:
    c = cast(province)
    me = c.actors["person_a"]
    aliases = " ".join(f'a{i}: person(id: "{c.a}") {{ id }}' for i in range(100))
    r = api.gql(me, "{ " + aliases + " }")
    assert any("aliases" in m for m in _errors(r)), _errors(r)
    assert r.json().get("data") is None
    sel = "personId"
    for _ in range(19):
        sel = f"roster {{ items {{ {sel} }} }}"
    depth20 = '{ unit(id: "1") { ' + sel + " } }"
    r = api.gql(me, depth20)
    assert any("depth" in m for m in _errors(r)), _errors(r)
    assert r.json().get("data") is None
    huge = "{ asOf " + " ".join("asOf" for _ in range(3000)) + " }"
    r = api.gql(me, huge)
    assert _errors(r) and r.json().get("data") is None


def test_batches_are_refused(api: Api, province: Province) -> None:
    c = cast(province)
    token = api.token(c.actors["person_a"])
    r = api.client.post(
        "/graphql",
        json=[{"query": "{ asOf }"}] * 50,
        headers={"Authorization": f"Bearer {token}"},
    )
    assert r.status_code == 400
    assert "asOf" not in r.text


def test_introspection_only_outside_production(province: Province) -> None:
    c = cast(province)
    query = "{ __schema { types { name } } }"
    with make_api(province.core_url, province.query_url, province.hub_url, province.redis_url) as dev:
        assert "errors" not in dev.gql(c.actors["person_a"], query).json()
    with make_api(
        # Own keys: the identity tables of this hub DB were encrypted under the development key.
        province.core_url,
        province.query_url,
        province.hub_url,
        province.redis_url,
        environment="production",
        own_keys=True,
    ) as prod:
        r = prod.gql(c.actors["person_a"], query)
        assert _errors(r) and r.json().get("data") is None
        # A normal query still works in production.
        assert prod.gql(c.actors["person_a"], "{ asOf }").json()["data"]["asOf"]
