"""The hot reads without FastAPI's per-request machinery: the gateway app's outermost layer.

``GatewayApp`` is the FastAPI app with one addition: before the middleware stack, ``FastReads.match``
looks at the request (method, path, a few headers, nothing parsed twice) and, for the
person reads of ``gateway/api/persons.py`` and the GraphQL endpoint, answers it itself by calling the
same functions the FastAPI route and its dependencies call, in the same order:

1. the request id (``hub.http.request_id``; the ``X-Request-ID`` header of every answer),
2. the caller and the rate limit with the revocation check in one Redis call
   (``gateway.api.auth.authenticate_and_limit``; the client address is the ASGI ``client``, which
   ``GatewayApp.match_fast`` has set from ``X-Forwarded-For`` where the peer is trusted),
3. read-your-writes and the snapshot (``hub.access.consistency.open_read``; for the overview the service's
   one statement is the snapshot, ``hub.access.consistency.PendingRead``),
4. the service function (access rule, query, masking per channel, the audit record, durable before
   it returns), serialised by the same pydantic serializer FastAPI uses for the route's response model,
5. errors rendered by the app's own handlers (``hub.http.problem``), the response deadline of
   ``hub.http.limits`` (503, ``Connection: close``).

What it does not recognise as exactly one of those requests (another method, a query string on a
route that takes parameters, an id or ``X-Consistency-Token`` FastAPI would refuse with 422, a request
body, a portal session cookie instead of a Bearer token, an odd GraphQL body …) goes to FastAPI
untouched, so validation errors and every rarer case keep one implementation. The FastAPI routes stay
(OpenAPI documents them); ``tests/gateway/test_fast_path.py`` holds both paths to byte-identical answers.
``HUB_FAST_READS=false`` turns the fast path off.

GraphQL documents of the hot shape ``person(id) { overview { <scalars> } }`` that strawberry has parsed and
validated once are not executed by strawberry at all: their plan (``gateway/graphql/compiled.py``) calls
the overviews loader's service function and writes the JSON strawberry would write.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from dataclasses import field as dc_field
from typing import Any, TypeGuard, TypeVar

import orjson
import strawberry
from fastapi import FastAPI
from graphql import DocumentNode, FieldNode, GraphQLError, OperationDefinitionNode, SelectionNode, parse
from graphql import OperationType as GraphQLOperationType
from starlette.background import BackgroundTasks
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import PlainTextResponse, Response
from starlette.types import Message, Receive, Scope, Send
from strawberry.dataloader import DataLoader
from strawberry.exceptions import MissingQueryError
from strawberry.fastapi import BaseContext
from strawberry.http import process_result
from strawberry.schema.base import BaseSchema
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.types.graphql import OperationType

from gateway.api.auth import authenticate_and_limit, bearer_and_begin
from gateway.api.deps import caller_of, purpose_from
from gateway.graphql.compiled import Odd, Plan, Plans
from gateway.graphql.context import Context
from gateway.graphql.documents import Documents
from gateway.graphql.errors import ProblemErrors
from gateway.graphql.types import PersonOverviewType
from hub.access import consistency
from hub.access.cache import CachedReadContext
from hub.access.context import Caller
from hub.access.ratelimit import Admission
from hub.config.web import WebSettings
from hub.errors import HubError, NotFound
from hub.http.forwarded import TrustedProxies
from hub.http.limits import deadline_passed, limit_response
from hub.http.problem import error_response, http_error_response, unexpected_error_response
from hub.http.request_id import current_request_id, request_id_from, request_id_of, with_request_id
from hub.persons import service as persons
from hub.persons.schemas import PersonOverviewRead

T = TypeVar("T")
PERSONS_PREFIX = "/api/v1/persons/"
GRAPHQL_PATH = "/graphql"
MAX_PERSON_ID = 2**62  # gateway/api/persons.py: PersonId (le)
MAX_CONSISTENCY_TOKEN = 2**63  # gateway/api/deps.py: X-Consistency-Token (lt)
MAX_GRAPHQL_BODY = 64 * 1024  # larger bodies (and chunked ones) take the FastAPI route and its limits


@dataclass(frozen=True)
class PersonRead:
    """One REST person read: the service function (looked up at call time) and whether it takes queries."""

    function: str
    takes_query: bool
    one_statement: bool = False  # the service function takes a PendingRead (position, facts, row at once)


# The path after /api/v1/persons/{person_id}/ → what gateway/api/persons.py's route calls. A route with
# query parameters is served here only without a query string (their validation stays in FastAPI).
PERSON_READS: dict[str, PersonRead] = {
    "overview": PersonRead("get_overview", takes_query=False, one_statement=True),
    "insurance": PersonRead("list_insurance", takes_query=False),
    "contributions": PersonRead("list_contributions", takes_query=True),
    "accounts": PersonRead("list_accounts", takes_query=True),
    "benefit": PersonRead("get_benefit", takes_query=False),
    "benefit/payments": PersonRead("list_payments", takes_query=True),
    "card": PersonRead("get_card", takes_query=False),
    "rights-statement": PersonRead("get_rights_statement", takes_query=True),
}

JSON_HEADER = (b"content-type", b"application/json")
# Writes a 200 answer's headers and body in one piece (``gateway.server``).
Respond = Callable[[list[tuple[bytes, bytes]], bytes], Awaitable[None]]
POST_OPERATIONS = OperationType.from_http("POST")


@dataclass(frozen=True, slots=True)
class Work:
    """A request the fast path serves: what answers it, and the headers it read once (``_scan``)."""

    run: Callable[[Request], Awaitable[bytes | Response]]
    seen: _Seen


@dataclass(slots=True)
class _Seen:
    """What the fast path reads of a request's headers (``_scan``)."""

    bearer: bool | None = None  # the first Authorization header is a Bearer token (Starlette's Headers.get)
    authorization: bytes = b""  # that first Authorization header
    request_id: bytes | None = None  # the last X-Request-ID (hub.http.request_id.request_id_for)
    purpose: bytes | None = None  # the first X-Purpose (gateway.api.deps.caller_of)
    token: int | None = None  # the first X-Consistency-Token
    json: bool | None = None  # the first Content-Type is application/json
    length: int = -1  # Content-Length (-1: none)
    chunked: bool = False  # Transfer-Encoding present
    streaming: bool = False  # Accept asks for a multipart or event-stream answer


def _scan(headers: Sequence[tuple[bytes, bytes]], max_length: int) -> _Seen | None:
    """The headers the fast path decides on, in one pass; None where FastAPI answers differently (422 for an
    X-Consistency-Token that is not an integer in range, a repeated or unreadable Content-Length, or one
    above ``max_length``)."""
    seen = _Seen()
    token_seen = False
    for name, value in headers:
        if name == b"authorization":
            if seen.bearer is None:
                seen.bearer = value[:7].lower() == b"bearer "
                seen.authorization = value
        elif name == b"x-request-id":
            seen.request_id = value
        elif name == b"x-purpose":
            if seen.purpose is None:
                seen.purpose = value
        elif name == b"x-consistency-token":
            if not token_seen:
                token_seen = True
                seen.token = _digits(value, MAX_CONSISTENCY_TOKEN)
                if seen.token is None:
                    return None  # FastAPI answers 422
        elif name == b"content-type":
            if seen.json is None:
                seen.json = value.split(b";", 1)[0].strip().lower() == b"application/json"
        elif name == b"content-length":
            n = _digits(value, max_length + 1)
            if n is None or seen.length >= 0:
                return None
            seen.length = n
        elif name == b"transfer-encoding":
            seen.chunked = True
        elif name == b"accept":
            lowered = value.lower()
            if b"multipart" in lowered or b"event-stream" in lowered:
                seen.streaming = True
    return seen


async def _caller(request: Request, route_class: str, seen: _Seen) -> Caller:
    """``authenticate_and_limit`` then ``caller_of``, from the headers ``_scan`` read (no second parse)."""
    caller, admission = await _caller_begun(request, route_class, seen)
    if admission is not None:
        await admission
    return caller


async def _caller_begun(
    request: Request, route_class: str, seen: _Seen, overlap: bool = True
) -> tuple[Caller, Admission | None]:
    """``_caller`` with the rate limiter's answer still to await (``bearer_and_begin``) when ``overlap`` (a
    short read may run meanwhile); None for it where it was awaited already: the token took
    ``authenticate_and_limit``'s other path, or the caller was refused lately (``Admission.doubtful``: an
    over-limit client costs the query store nothing), or ``overlap`` is off (a read with a consistency
    token may wait long: a refusal must not wait for it)."""
    client = request.scope.get("client")
    ip = client[0] if client else None
    state = request.app.state
    begun = await bearer_and_begin(state, seen.authorization[7:].decode("latin-1"), ip, route_class)
    if begun is None:
        return caller_of(request, await authenticate_and_limit(request, route_class)), None
    subject, admission = begun
    purpose = purpose_from(seen.purpose.decode("latin-1") if seen.purpose is not None else None)
    caller = Caller(subject, request_id_of(request), ip, purpose)
    if not overlap or admission.doubtful:
        await admission
        return caller, None
    return caller, admission


async def _body(receive: Receive) -> bytes:
    """The request body as ``Request.body`` reads it (ClientDisconnect if the client went away), without
    its async generator: the GraphQL body is read on every hot request."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.request":
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                return b"".join(chunks)
        elif message["type"] == "http.disconnect":
            raise ClientDisconnect()


async def _admitted_after(pending: consistency.PendingRead, work: Awaitable[T]) -> T:
    """``work`` (a service call over ``pending``), then ``pending``'s admission if its read did not take it:
    a refusal is the answer, also when ``work`` failed."""
    try:
        result = await work
    except asyncio.CancelledError:
        consistency.discard(pending.admission)
        raise
    except Exception:
        await consistency.admitted(pending)
        raise
    await consistency.admitted(pending)
    return result


def _digits(value: bytes, limit: int) -> int | None:
    """``value`` as an int in ``[0, limit)`` if it is plain ASCII digits, else None."""
    if not value.isdigit() or len(value) > 19:
        return None
    n = int(value)
    return n if n < limit else None


class FastReads:
    """Recognises the hot reads (``match``) and answers them (``serve``)."""

    def __init__(self, *, timeout: float, max_body: int, graphql: BaseSchema | None, batch: bool = True) -> None:
        self.timeout = timeout  # hub.http.limits: the answer must start within it
        self.max_graphql_body = min(MAX_GRAPHQL_BODY, max_body)  # larger: the limits middleware decides
        self.graphql = graphql
        self.served = 0  # answers given here (tests and the benchmark check the path was taken)
        self._shapes: OrderedDict[str, bool] = OrderedDict()  # query text -> overview_only
        # Compiled plans of the hot document shape (gateway/graphql/compiled.py); None: strawberry executes
        # every document (tests compare both).
        self.plans = _plans(graphql)
        self.planned = 0  # answers written from a plan
        self._masker = ProblemErrors()
        # Overview reads of one loop pass share a statement (hub.access.consistency.OnceBatcher); the rate
        # limiter's checks share a Redis call on their own (hub.access.ratelimit).
        self.batcher = consistency.OnceBatcher() if batch else None

    # matching ---------------------------------------------------------------------------------
    def match(self, scope: Scope) -> Work | None:
        """The work for this request if the fast path serves it exactly as the route would, else None."""
        if scope.get("root_path"):
            return None
        path: str = scope["path"]
        if path.startswith(PERSONS_PREFIX):
            return self._match_person(scope, path) if scope["method"] == "GET" else None
        if path == GRAPHQL_PATH and scope["method"] == "POST" and self.graphql is not None:
            return self._match_graphql(scope)
        return None

    def _match_person(self, scope: Scope, path: str) -> Work | None:
        pid_text, _, operation = path[len(PERSONS_PREFIX) :].partition("/")
        read = PERSON_READS.get(operation)
        if read is None or (read.takes_query and scope.get("query_string")):
            return None
        pid = _digits(pid_text.encode("ascii", "replace"), MAX_PERSON_ID + 1)
        if pid is None or pid < 1:
            return None
        seen = _scan(scope["headers"], 0)
        if seen is None or seen.length > 0 or seen.chunked:
            return None  # a body (the request limits of the middleware stack apply) or a token FastAPI refuses
        if not seen.bearer:
            return None  # no token (401) or a portal session: the route's dependency decides
        token = seen.token

        async def work(request: Request) -> bytes:
            return await self._person_read(request, read, pid, token or None, seen)

        return Work(work, seen)

    def _match_graphql(self, scope: Scope) -> Work | None:
        seen = _scan(scope["headers"], self.max_graphql_body)
        if seen is None or seen.chunked or seen.streaming or not (seen.bearer and seen.json) or seen.length <= 0:
            return None
        token = seen.token

        async def work(request: Request) -> bytes | Response:
            return await self._graphql_read(request, token or None, seen)

        return Work(work, seen)

    # serving ----------------------------------------------------------------------------------
    async def serve(
        self, app: FastAPI, work: Work, scope: Scope, receive: Receive, send: Send, respond: Respond | None = None
    ) -> None:
        """Answer as the middleware stack, the route's dependencies and the app's error handlers would.

        ``respond`` (``gateway.server``) writes a 200 answer in one piece; without it, two ASGI messages."""
        rid = request_id_from(work.seen.request_id)
        state = scope.get("state")
        if state is None:
            state = scope["state"] = {}
        state["request_id"] = rid
        scope["app"] = app
        reset = current_request_id.set(rid)
        request = Request(scope, receive)
        deadline = asyncio.timeout(self.timeout)
        response: Response | None
        try:
            try:
                async with deadline:
                    result = await work.run(request)
            except _FallThrough:
                raise
            except HubError as exc:
                response = error_response(request, exc, rid)
            except HTTPException as exc:
                response = http_error_response(request, exc)
            except TimeoutError as exc:
                if deadline.expired():
                    response = limit_response(request, deadline_passed())
                else:
                    response = unexpected_error_response(request, exc, rid)
            except Exception as exc:
                response = unexpected_error_response(request, exc, rid)
            else:
                if isinstance(result, bytes):
                    self.served += 1
                    headers = [
                        (b"content-length", str(len(result)).encode()),
                        JSON_HEADER,
                        (b"x-request-id", rid.encode()),
                    ]
                    if respond is not None:
                        await respond(headers, result)
                        return
                    await send({"type": "http.response.start", "status": 200, "headers": headers})
                    await send({"type": "http.response.body", "body": result})
                    return
                response = result
            if response is None:
                return  # the client went away
            self.served += 1
            rid_bytes = rid.encode()

            async def send_with_id(message: Message) -> None:
                if message["type"] == "http.response.start":
                    message["headers"] = with_request_id(message.get("headers", []), rid_bytes)
                await send(message)

            await response(scope, receive, send_with_id)
        finally:
            current_request_id.reset(reset)

    async def _person_read(
        self, request: Request, read: PersonRead, person_id: int, token: int | None, seen: _Seen
    ) -> bytes:
        # gateway/api/deps.py: reader("read"), then the route of gateway/api/persons.py.
        state = request.app.state
        function = read.function
        if read.one_statement:
            # No snapshot opened here: the service's one statement is the snapshot (same server choice,
            # read-your-writes wait and 503 as open_read). It runs while the rate limiter decides; nothing
            # is looked at, recorded or answered before the caller is admitted (PendingRead.admission).
            caller, admission = await _caller_begun(request, "read", seen, overlap=token is None)
            pending = consistency.PendingRead(
                state.pools,
                caller,
                state.audit,
                token,
                state.consistency_timeout,
                getattr(state, "read_cache", None),
                batcher=self.batcher,
                admission=admission,
            )
            result = await _admitted_after(pending, getattr(persons, function)(pending, person_id))
            return bytes(result.__pydantic_serializer__.to_json(result, by_alias=True))
        caller = await _caller(request, "read", seen)
        async with consistency.open_read(state.pools, token, timeout=state.consistency_timeout) as (conn, snap):
            ctx = CachedReadContext(
                conn,
                caller,
                state.audit,
                snap.as_of,
                event_id=snap.event_id,
                cache=getattr(state, "read_cache", None),
            )
            result = await getattr(persons, function)(ctx, person_id)
        # FastAPI's response model is the route's return type, the very class of ``result``.
        body: bytes = result.__pydantic_serializer__.to_json(result, by_alias=True)
        return body

    async def _graphql_read(self, request: Request, token: int | None, seen: _Seen) -> bytes | Response:
        body = await _body(request.receive)
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError:
            data = None
        if not _plain_graphql_request(data):
            raise _FallThrough(body)
        # gateway/graphql/context.py: get_context over reader("graphql"), then strawberry's view. The overview
        # statement of a planned or overview-only document runs while the rate limiter decides (as REST).
        caller, admission = await _caller_begun(request, "graphql", seen, overlap=token is None)
        state = request.app.state
        cache = getattr(state, "read_cache", None)
        tracked = TrackedRead(
            state.pools,
            caller,
            state.audit,
            token,
            state.consistency_timeout,
            cache,
            batcher=self.batcher,
            admission=admission,
        )
        query: str = data["query"]
        plan = self.plans.get(query) if self.plans is not None else None
        if plan is not None and data.get("operationName") in (None, plan.operation_name):
            pid = _person_id(plan.raw_id(data.get("variables")))
            if pid is not None:
                return await _admitted_after(tracked, self._run_plan(request, data, plan, tracked, pid))
            # An id strawberry refuses or answers as missing without reading: the ordinary path below.
        elif self._overview_only(query):
            # The document reads one DataLoader batch of overviews and nothing else: that batch's one
            # statement is the snapshot (hub.access.consistency.PendingRead), no transaction is opened.
            out = await _admitted_after(tracked, self._execute(request, data, OverviewOnlyContext(tracked)))
            if tracked.refusal is not None:
                # The snapshot itself failed (read-your-writes 503, store down): FastAPI's context dependency
                # fails the same way, before strawberry runs, and the app's handlers answer.
                raise tracked.refusal
            if tracked.has_begun:
                return out
            # Nothing was read (a validation or variable error, an id answered as missing): FastAPI would
            # have opened the snapshot first, and its failures would answer instead. Executing such a
            # document has no effect (no read, no audit), so it is answered once more as FastAPI answers it.
        await consistency.admitted(tracked)
        async with consistency.open_read(state.pools, token, timeout=state.consistency_timeout) as (conn, snap):
            read = CachedReadContext(conn, caller, state.audit, snap.as_of, event_id=snap.event_id, cache=cache)
            return await self._execute(request, data, Context(read))

    async def _run_plan(
        self, request: Request, data: dict[str, Any], plan: Plan, read: TrackedRead, person_id: int
    ) -> bytes | Response:
        """Answer a document of the hot shape from its plan: the overviews loader's service call (access
        rule, masking, audit) for the one person, and the JSON written directly."""
        outcome: PersonOverviewRead | BaseException
        try:
            found = await persons.get_overviews(read, [person_id])
        except Exception as exc:
            if not read.has_begun:
                raise  # the snapshot failed: as FastAPI's context dependency, the app's handlers answer
            outcome = exc
        else:
            outcome = found.get(person_id) or NotFound()
        if isinstance(outcome, HubError):
            self.planned += 1
            return plan.error(outcome, self._masker)
        if isinstance(outcome, PersonOverviewRead):
            try:
                body = plan.render(outcome)
            except Odd:
                pass
            else:
                self.planned += 1
                return body
        # A value or an error the plan does not write as strawberry would: strawberry executes the document
        # over the answer already read (the service is not called twice).
        return await self._execute(request, data, PrimedContext(person_id, outcome))

    async def _execute(self, request: Request, data: dict[str, Any], context: Context) -> bytes | Response:
        context.request = request
        context.background_tasks = BackgroundTasks()
        schema = self.graphql
        assert schema is not None
        try:
            result = await schema.execute(
                data["query"],
                root_value=None,
                variable_values=data.get("variables"),
                context_value=context,
                operation_name=data.get("operationName"),
                allowed_operation_types=POST_OPERATIONS,
                operation_extensions=None,
            )
        except CannotGetOperationTypeError as exc:
            return PlainTextResponse(exc.as_http_error_reason(), status_code=400)
        except InvalidOperationTypeError as exc:
            return PlainTextResponse(exc.as_http_error_reason("POST"), status_code=400)
        except MissingQueryError:
            return PlainTextResponse("No GraphQL query found in the request", status_code=400)
        out: bytes = orjson.dumps(process_result(result))  # gateway/graphql/router.py: encode_json
        return out

    def _overview_only(self, query: str) -> bool:
        """Whether ``query`` is an overview-only document (``overview_only``), remembered per query text."""
        known = self._shapes.get(query)
        if known is None:
            try:
                known = overview_only(parse(query, max_tokens=MAX_SHAPE_TOKENS))
            except GraphQLError:
                known = False  # strawberry reports it, on the ordinary path
            self._shapes[query] = known
            while len(self._shapes) > MAX_SHAPES:
                self._shapes.popitem(last=False)
        else:
            self._shapes.move_to_end(query)
        return known


MAX_SHAPES = 256  # query texts whose shape is remembered (clients send a few texts over and over)
MAX_SHAPE_TOKENS = 2_000  # longer documents are not overview-only ones


def overview_only(document: DocumentNode) -> bool:
    """One query operation without directives whose only root field is ``person`` (no directives), which
    selects only ``overview`` and ``__typename``, with plain fields under ``overview``: executing it reads
    one DataLoader batch of overviews (one person) and nothing else, so that batch can be its snapshot."""
    if len(document.definitions) != 1:
        return False
    op = document.definitions[0]
    if not isinstance(op, OperationDefinitionNode) or op.operation is not GraphQLOperationType.QUERY or op.directives:
        return False
    roots = op.selection_set.selections
    if len(roots) != 1 or not _plain_field(roots[0], "person") or roots[0].selection_set is None:
        return False
    for field in roots[0].selection_set.selections:
        if not isinstance(field, FieldNode) or field.directives:
            return False
        name = field.name.value
        if name == "__typename" and field.selection_set is None:
            continue
        if name != "overview" or field.selection_set is None or field.arguments:
            return False
        if not all(
            isinstance(f, FieldNode) and not f.directives and f.selection_set is None
            for f in field.selection_set.selections
        ):
            return False
    return True


def _plain_field(node: SelectionNode, name: str) -> TypeGuard[FieldNode]:
    return isinstance(node, FieldNode) and node.name.value == name and not node.directives


class OverviewOnlyContext(Context):
    """The GraphQL context of an overview-only document: the overviews loader over a ``PendingRead``.

    It has no ``read``: nothing but the loader may read in such a document (``overview_only``).
    """

    def __init__(self, pending: consistency.PendingRead) -> None:
        BaseContext.__init__(self)

        async def load_overviews(ids: Sequence[int]) -> list[PersonOverviewRead | BaseException]:
            found = await persons.get_overviews(pending, ids)
            return [found.get(i) or NotFound() for i in ids]

        self.overviews = DataLoader(load_fn=load_overviews)


@dataclass
class TrackedRead(consistency.PendingRead):
    """A ``PendingRead`` that tells whether its snapshot began, and what refused it if it did not."""

    has_begun: bool = dc_field(default=False, init=False)
    refusal: Exception | None = dc_field(default=None, init=False)

    def began(self) -> None:
        self.has_begun = True

    def refused(self, exc: Exception) -> None:
        if not self.has_begun:
            self.refusal = exc


class PrimedContext(Context):
    """The context of a planned document strawberry executes after all: the overviews loader answers what
    the plan already read (an overview or an error) for the one person."""

    def __init__(self, person_id: int, outcome: PersonOverviewRead | BaseException) -> None:
        BaseContext.__init__(self)

        async def load_overviews(ids: Sequence[int]) -> list[PersonOverviewRead | BaseException]:
            return [outcome if i == person_id else NotFound() for i in ids]

        self.overviews = DataLoader(load_fn=load_overviews)


def _person_id(raw: str | None) -> int | None:
    """The id strawberry's ``person`` resolvers read from ``raw`` (gateway/graphql/schema.py: ``_int_id``),
    or None where they answer it as missing without reading."""
    if raw is None or not (raw.isascii() and raw.isdigit() and 0 < len(raw) <= 18):
        return None
    return int(raw)


def _plans(schema: BaseSchema | None) -> Plans | None:
    documents = getattr(schema, "documents", None)
    if not isinstance(schema, strawberry.Schema) or not isinstance(documents, Documents):
        return None
    definition = PersonOverviewType.__strawberry_definition__  # type: ignore[attr-defined]
    names = schema.config.name_converter
    attributes = {names.get_graphql_name(f): f.python_name for f in definition.fields if f.base_resolver is None}
    return Plans(schema._schema, documents, attributes)


class _FallThrough(Exception):
    """The request turned out not to be one the fast path serves; ``body`` was read and is replayed."""

    def __init__(self, body: bytes) -> None:
        super().__init__()
        self.body = body


def _plain_graphql_request(data: Any) -> bool:
    """One operation with a non-empty query, object variables and no extensions: what strawberry's view
    would execute without a 400 of its own."""
    return (
        isinstance(data, dict)
        and isinstance(data.get("query"), str)
        and bool(data["query"])
        and isinstance(data.get("variables"), dict | None)
        and isinstance(data.get("operationName"), str | None)
        and data.get("extensions") is None
    )


class GatewayApp(FastAPI):
    """The gateway's FastAPI app with the client address behind trusted proxies (``hub.http.forwarded``)
    and the fast path in front of its middleware stack."""

    fast_reads: FastReads | None = None
    forwarded: TrustedProxies = TrustedProxies(WebSettings().forwarded_allow_ips)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await super().__call__(scope, receive, send)
            return
        work = self.match_fast(scope)
        if work is not None:
            await self.serve_fast(work, scope, receive, send)
            return
        await super().__call__(scope, receive, send)

    def match_fast(self, scope: Scope) -> Work | None:
        """Set the client address and scheme from trusted proxies' headers, then the fast path's work for
        the request, if it serves it. Applying the proxy rule twice (``gateway.server`` then here, for a
        request the fast path turns down) changes nothing the first time did not."""
        self.forwarded.apply(scope)
        fast = self.fast_reads
        return fast.match(scope) if fast is not None and scope["type"] == "http" else None

    async def serve_fast(
        self, work: Work, scope: Scope, receive: Receive, send: Send, respond: Respond | None = None
    ) -> None:
        """Answer ``work`` on the fast path; a GraphQL request it turns down after reading the body goes to
        FastAPI with that body replayed."""
        fast = self.fast_reads
        assert fast is not None
        try:
            await fast.serve(self, work, scope, receive, send, respond)
        except _FallThrough as fall:
            await super().__call__(scope, _replay(fall.body, receive), send)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that hands out ``body`` (already read) first, then defers to the server's."""
    pending = True

    async def replayed() -> Message:
        nonlocal pending
        if pending:
            pending = False
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed


# The app's middleware (``app.user_middleware``, by class name) and what the fast path does in its stead: it
# answers before the middleware stack, so a middleware added to the app does nothing for the hot reads until
# it is mirrored here. tests/gateway/test_fast_mirror.py fails on a middleware this table does not name.
MIRRORED_MIDDLEWARE = {
    "RequestIdMiddleware": "FastReads.serve: the same id (request_id_from, the header scan's X-Request-ID), "
    "state.request_id and current_request_id set, X-Request-ID on every answer",
    "RequestLimitsMiddleware": "the response deadline (FastReads.serve: asyncio.timeout, the same 503); the "
    "body limit while matching (_scan: a declared length over the limit, a chunked body, or any body on a "
    "person read, goes to FastAPI and so through this middleware)",
    "UnexpectedErrorMiddleware": "FastReads.serve renders unexpected errors with the same handler "
    "(unexpected_error_response: masked problem+json with the request id, logged with its class only)",
    "AppChannelMiddleware": "not applicable: it acts on /app/v1 only, a prefix the fast path never matches",
}


def mount(app: GatewayApp, *, enabled: bool, web: WebSettings, graphql: BaseSchema | None, batch: bool = True) -> None:
    """Put the fast path in front of ``app`` (``enabled`` is ``HUB_FAST_READS``, ``batch`` ``HUB_BATCH_READS``;
    ``web`` the request limits and the trusted proxies)."""
    app.forwarded = TrustedProxies(web.forwarded_allow_ips)
    app.fast_reads = (
        FastReads(timeout=web.request_timeout_seconds, max_body=web.max_body_bytes, graphql=graphql, batch=batch)
        if enabled
        else None
    )
