"""The GraphQL HTTP endpoint: POST only, no IDE, JSON encoded with orjson."""

from __future__ import annotations

from typing import Any, cast

import orjson
from strawberry.fastapi import GraphQLRouter

from gateway.graphql.context import Context, get_context
from gateway.graphql.schema import build_schema


class HubGraphQLRouter(GraphQLRouter[Context, None]):
    def encode_json(self, data: object) -> bytes:
        return orjson.dumps(data)


def graphql_router(*, production: bool) -> HubGraphQLRouter:
    return HubGraphQLRouter(
        build_schema(production=production),
        path="/graphql",
        graphql_ide=None,  # no HTML page: the route stays token-only
        allow_queries_via_get=False,  # no GET: no query in URLs, logs or CSRF
        # A yield dependency (it holds the request's snapshot); strawberry's annotation covers plain ones only.
        context_getter=cast(Any, get_context),
        include_in_schema=False,
    )
