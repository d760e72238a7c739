"""schemathesis over the OpenAPI document and the GraphQL schema: no 5xx, answers match their schemas."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from typing import Any

import graphql
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import APIOperation
from schemathesis.core.errors import InvalidSchema
from schemathesis.core.result import Err, Ok

from tests.api.actors import cast
from tests.api.conftest import Api, Province
from tests.fuzz.sizes import examples


def _ok(result: Ok[APIOperation[Any, Any, Any, Any]] | Err[InvalidSchema]) -> APIOperation[Any, Any, Any, Any]:
    """The operation, or the schema error schemathesis met while building it."""
    if isinstance(result, Err):
        raise result.err()
    return result.ok()


def _operations(api: Api) -> list[Any]:
    spec = api.client.get("/openapi.json").json()
    spec["paths"] = {p: v for p, v in spec["paths"].items() if p.startswith("/api/v1/")}
    schema = schemathesis.openapi.from_dict(spec)
    return [_ok(result) for result in schema.get_all_operations()]


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
    @settings(max_examples=examples(25), deadline=None, suppress_health_check=list(HealthCheck), database=None)
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

    @settings(max_examples=examples(30), deadline=None, suppress_health_check=list(HealthCheck), database=None)
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


# ------------------------------------------------------------------------------------------------
# schemathesis over the GraphQL schema (from its introspection): no server error, and every answer
# conforms to the schema for the query that was sent.


def _graphql_operations(api: Api, bearer: str) -> tuple[graphql.GraphQLSchema, list[Any]]:
    r = api.client.post(
        "/graphql",
        json={"query": graphql.get_introspection_query()},
        headers={"Authorization": f"Bearer {bearer}"},
    )
    assert r.status_code == 200, r.text
    introspection = r.json()
    schema = schemathesis.graphql.from_dict(introspection)
    return graphql.build_client_schema(introspection["data"]), [_ok(result) for result in schema.get_all_operations()]


_SCALARS: dict[str, tuple[type, ...]] = {
    "Int": (int,),
    "Float": (int, float),
    "String": (str,),
    "ID": (str,),
    "Boolean": (bool,),
}


def _fields(
    selections: Any, parent: graphql.GraphQLObjectType, fragments: dict[str, graphql.FragmentDefinitionNode]
) -> Iterator[tuple[str, graphql.FieldNode, bool]]:
    """(response key, field node, always present) of a selection set, fragments flattened."""
    for node in selections.selections:
        conditional = bool(node.directives)  # @skip / @include: the key may be absent
        if isinstance(node, graphql.FieldNode):
            yield (node.alias or node.name).value, node, not conditional
        else:
            if isinstance(node, graphql.FragmentSpreadNode):
                fragment: Any = fragments[node.name.value]
            else:
                fragment = node
            condition = fragment.type_condition
            if condition is None or condition.name.value == parent.name:
                for key, field, present in _fields(fragment.selection_set, parent, fragments):
                    yield key, field, present and not conditional


def _conforms(
    value: Any,
    type_: graphql.GraphQLOutputType,
    node: graphql.FieldNode,
    fragments: dict[str, graphql.FragmentDefinitionNode],
    path: str,
) -> None:
    if isinstance(type_, graphql.GraphQLNonNull):
        # A non-null field is never null in an answer: an error nulls its nearest nullable parent.
        assert value is not None, f"{path}: null in a non-null position"
        _conforms(value, type_.of_type, node, fragments, path)
        return
    if value is None:
        return
    if isinstance(type_, graphql.GraphQLList):
        assert isinstance(value, list), f"{path}: not a list"
        for i, item in enumerate(value):
            _conforms(item, type_.of_type, node, fragments, f"{path}[{i}]")
    elif isinstance(type_, graphql.GraphQLScalarType):
        kinds = _SCALARS.get(type_.name, (str, int, float, bool))
        assert isinstance(value, kinds) and not (bool not in kinds and isinstance(value, bool)), (
            f"{path}: {value!r} is not a {type_.name}"
        )
    elif isinstance(type_, graphql.GraphQLEnumType):
        assert value in type_.values, f"{path}: {value!r} is not a {type_.name}"
    else:
        assert isinstance(type_, graphql.GraphQLObjectType), f"{path}: unexpected {type_}"
        assert isinstance(value, dict), f"{path}: not an object"
        _object(value, type_, node.selection_set, fragments, path)


def _object(
    value: dict[str, Any],
    type_: graphql.GraphQLObjectType,
    selection_set: Any,
    fragments: dict[str, graphql.FragmentDefinitionNode],
    path: str,
) -> None:
    expected: set[str] = set()
    for key, field, present in _fields(selection_set, type_, fragments):
        expected.add(key)
        if not present and key not in value:
            continue
        assert key in value, f"{path}.{key}: missing"
        if field.name.value == "__typename":
            assert value[key] == type_.name, f"{path}.{key}"
            continue
        _conforms(value[key], type_.fields[field.name.value].type, field, fragments, f"{path}.{key}")
    assert set(value) <= expected, f"{path}: fields not asked for: {set(value) - expected}"


def _check_graphql_answer(schema: graphql.GraphQLSchema, query: str, response: Any) -> None:
    # 503 is the documented answer to a consistency token the store has not reached; none is sent here.
    assert response.status_code < 500, (query, response.text)
    body = response.json()
    try:
        document = graphql.parse(query)
    except graphql.GraphQLError:
        # The generator sometimes writes a string graphql-core itself cannot parse: the server must
        # have refused it as such, without data.
        assert body.get("data") is None and body.get("errors"), body
        return
    if response.status_code != 200:
        # Refused before execution (e.g. a depth or token limit): errors only, each with a problem type.
        assert "data" not in body or body["data"] is None, body
    assert set(body) <= {"data", "errors", "extensions"}, body
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, graphql.FragmentDefinitionNode)}
    for error in body.get("errors", []):
        assert isinstance(error.get("message"), str), error
        kind = error.get("extensions", {}).get("type", "")
        assert "internal" not in kind, (query, error)  # a masked unexpected error is a server error
    if body.get("data") is not None:
        operation = next(d for d in document.definitions if isinstance(d, graphql.OperationDefinitionNode))
        query_type = schema.query_type
        assert query_type is not None
        _object(body["data"], query_type, operation.selection_set, fragments, "data")
    else:
        assert body.get("errors"), body  # no data: an error must say why


def _with_ids(query: str, person: int, unit: int) -> str:
    """The fuzzed query pointed at records the caller may read, so the resolvers return real data."""
    query = re.sub(r"person\(id: [^)]*\)", f'person(id: "{person}")', query)
    return re.sub(r"unit\(id: [^)]*\)", f'unit(id: "{unit}")', query)


def test_graphql_schema_operations_never_fail_or_violate_the_schema(
    api: Api, province: Province, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="httpx2")  # fuzzed ids in request lines, as above
    c = cast(province)
    token = api.token(c.actors["reviewer"])
    schema, operations = _graphql_operations(api, token)
    assert {op.label for op in operations} >= {"Query.person", "Query.unit", "Query.asOf"}
    seen_data = 0

    for operation in operations:

        @settings(max_examples=examples(40), deadline=None, suppress_health_check=list(HealthCheck), database=None)
        @given(case=operation.as_strategy())
        def check(case: Any) -> None:
            nonlocal seen_data
            for query in (case.body, _with_ids(case.body, c.a, c.x)):
                response = api.client.post(
                    "/graphql", json={"query": query}, headers={"Authorization": f"Bearer {token}"}
                )
                _check_graphql_answer(schema, query, response)
                seen_data += bool((response.json().get("data") or {}).get("person") or {})

        check()
    assert seen_data > 0  # the real-id pass did reach the resolvers with data
