"""The cache of parsed and validated GraphQL documents (gateway/graphql/documents.py)."""

from __future__ import annotations

import asyncio

import pytest
from graphql import GraphQLError

from gateway.graphql.documents import Documents
from gateway.graphql.schema import MAX_TOKENS, HubSchema, build_schema


def test_parsed_once_per_text_and_bounded() -> None:
    docs = Documents(rules=(), max_tokens=100, max_entries=2)
    first = docs.parsed("{ asOf }")
    assert docs.parsed("{ asOf }") is first  # the same text: the same document, not parsed again
    docs.parsed("{ a: asOf }")
    docs.parsed("{ asOf }")  # used again: now the most recent
    docs.parsed("{ b: asOf }")  # a third text: the least recently used one ({ a: asOf }) goes
    assert len(docs) == 2
    assert docs.parsed("{ asOf }") is first
    with pytest.raises(GraphQLError, match="token"):
        docs.parsed("{ " + "asOf " * 120 + "}")  # 122 tokens over a limit of 100


def test_validation_errors_repeat_from_the_cache() -> None:
    schema = build_schema(production=True)

    async def run(query: str) -> list[str]:
        result = await schema.execute(query)
        return [e.message for e in result.errors or ()]

    introspection = "{ __schema { types { name } } }"
    first, second = asyncio.run(run(introspection)), asyncio.run(run(introspection))
    assert first == second and len(first) == 2  # __schema and types
    assert "introspection" in first[0].lower()  # NoSchemaIntrospectionCustomRule, in production only
    assert isinstance(schema, HubSchema) and schema.documents is not None
    cached = schema.documents.parsed(introspection).errors
    assert cached is not None and [e.message for e in cached] == first  # validated once, answered from here
    assert not asyncio.run(build_schema(production=False).execute(introspection)).errors
    assert "token" in asyncio.run(run("{ " + "asOf " * MAX_TOKENS + "}"))[0].lower()  # the token limit holds
