"""GraphQL errors: a HubError keeps its problem members in ``extensions``; anything else is masked."""

from __future__ import annotations

import logging

from graphql.error import GraphQLError
from strawberry.extensions import MaskErrors

from hub.errors import HubError, InternalError
from hub.http.problem import redacted_traceback
from hub.http.request_id import current_request_id

log = logging.getLogger(__name__)


def _from_resolver(error: GraphQLError) -> bool:
    # Syntax, validation and variable errors (no path: raised before execution) are the client's own and
    # safe to show as they are; whatever a resolver raised is rewritten.
    original = error.original_error
    return isinstance(original, HubError) or (original is not None and error.path is not None)


class ProblemErrors(MaskErrors):
    """Every resolver error is rewritten: HubError → its problem; unexpected → a bare internal error."""

    def __init__(self) -> None:
        super().__init__(should_mask_error=_from_resolver, error_message=InternalError.default_detail)

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        original = error.original_error
        if isinstance(original, HubError):
            problem = original
        else:
            log.error(
                "unexpected %s in GraphQL request %s\n%s",
                type(original).__name__,
                current_request_id.get(),
                redacted_traceback(original) if original else "",
            )
            problem = InternalError()
        return GraphQLError(
            message=problem.detail,
            nodes=error.nodes,
            source=error.source,
            positions=error.positions,
            path=error.path,
            original_error=None,
            extensions={**problem.problem(), "request_id": current_request_id.get()},
        )
