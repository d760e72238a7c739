"""Compiled plans for the hot GraphQL document shape: ``person(id) { overview { <scalars> } }``.

For a cached document that validated without errors and whose one query operation selects nothing but
``person(id: …)`` (possibly aliased) with one ``overview`` (possibly aliased) of plain scalar fields
(possibly aliased) and ``__typename`` fields, a ``Plan`` says where the id comes from (an inline literal
or one variable), and which overview attributes go under which response keys in which order, each with
the serialiser strawberry's scalar would use. ``gateway/fast.py`` executes it by calling the service
function the ``overview`` resolver's DataLoader calls and writes the JSON itself; the answer is the one
strawberry gives (``tests/gateway/test_graphql_compiled.py`` holds them byte-identical). Anything the plan
does not know exactly (a value its serialiser does not take, an error that is not a ``HubError``) is
left to strawberry by the caller, with the already-fetched answer.

Plans are made once per query text (kept on the entry of ``gateway.graphql.documents.Documents``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from graphql import (
    DocumentNode,
    FieldNode,
    GraphQLError,
    GraphQLNamedType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLScalarType,
    IntValueNode,
    NamedTypeNode,
    NonNullTypeNode,
    OperationDefinitionNode,
    OperationType,
    StringValueNode,
    VariableNode,
)
from graphql import GraphQLSchema as CoreSchema
from pydantic import BaseModel

from gateway.graphql.documents import Documents
from gateway.graphql.errors import ProblemErrors
from hub.errors import HubError

TYPENAME = "__typename"
MAX_INT = 2**31  # GraphQL Int is a signed 32-bit integer


class Odd(Exception):
    """A value the plan's serialiser does not take as strawberry would: strawberry answers instead."""


def _int(value: Any) -> Any:
    if type(value) is int and -MAX_INT <= value < MAX_INT:
        return value
    raise Odd


def _str(value: Any) -> Any:
    if type(value) is str:
        return value
    raise Odd


def _bool(value: Any) -> Any:
    if type(value) is bool:
        return value
    raise Odd


def _date(value: Any) -> Any:
    if type(value) is dt.date:
        return value.isoformat()  # strawberry's Date: ``date.isoformat``
    raise Odd


# The scalars a plan serialises itself (by GraphQL name), each accepting exactly the Python type the
# scalar passes through unchanged (or formats as strawberry does); anything else is ``Odd``.
SERIALISERS: dict[str, Callable[[Any], Any]] = {
    "Int": _int,
    "String": _str,
    "ID": _str,
    "Boolean": _bool,
    "Date": _date,
}


@dataclass(frozen=True)
class Column:
    """One response key under ``overview``: a constant (``__typename``) or a serialised attribute."""

    key: str
    attribute: str | None  # None: ``constant`` is the value
    serialise: Callable[[Any], Any] | None
    nullable: bool
    constant: str | None = None


@dataclass(frozen=True)
class Plan:
    """How to answer one ``person(id) { overview { … } }`` document without executing it."""

    operation_name: str | None
    id_literal: str | None  # the inline id, as strawberry's ID sees it
    id_variable: str | None  # or the variable that gives it
    person_key: str
    person_type: str  # the value of ``__typename`` under ``person``
    overview_key: str
    overview_node: FieldNode  # where an error of the overview is located
    columns: tuple[Column, ...]
    # The ``person`` level's response keys in document order (``None`` marks the overview).
    person_order: tuple[str, ...]

    def raw_id(self, variables: Mapping[str, Any] | None) -> str | None:
        """The id argument as strawberry's ``ID`` coerces it, or None (strawberry decides: missing, null,
        or a value ID refuses)."""
        if self.id_literal is not None:
            return self.id_literal
        if variables is None or self.id_variable is None or self.id_variable not in variables:
            return None
        value = variables[self.id_variable]
        if type(value) is str:
            return value
        if type(value) is int:
            return str(value)
        return None

    def render(self, overview: BaseModel) -> bytes:
        """The answer's body for ``overview``; raises ``Odd`` where strawberry would answer otherwise."""
        fields: dict[str, Any] = {}
        for column in self.columns:
            if column.key in fields:
                continue  # the same response key twice (merged by validation): the first one's place
            if column.attribute is None:
                fields[column.key] = column.constant
                continue
            value = getattr(overview, column.attribute)
            if value is None:
                if not column.nullable:
                    raise Odd
                fields[column.key] = None
            else:
                assert column.serialise is not None
                fields[column.key] = column.serialise(value)
        person: dict[str, Any] = {}
        for key in self.person_order:
            if key in person:
                continue
            person[key] = fields if key == self.overview_key else self.person_type
        return orjson.dumps({"data": {self.person_key: person}})

    def error(self, exc: HubError, masker: ProblemErrors) -> bytes:
        """The answer when the overview resolver raised ``exc``: the overview and the person are non-null,
        so ``data`` is null and the one error sits at the overview, masked as ``ProblemErrors`` does."""
        located = GraphQLError(
            str(exc), nodes=[self.overview_node], path=[self.person_key, self.overview_key], original_error=exc
        )
        return orjson.dumps({"data": None, "errors": [masker.anonymise_error(located).formatted]})


def _named(t: GraphQLOutputType) -> tuple[GraphQLNamedType | None, bool]:
    """The named type of ``t`` (None for a list: not planned) and whether ``t`` is nullable."""
    nullable = True
    if isinstance(t, GraphQLNonNull):
        t, nullable = t.of_type, False
    return (t if isinstance(t, GraphQLNamedType) else None), nullable


def _plain(node: Any) -> FieldNode | None:
    if isinstance(node, FieldNode) and not node.directives and not node.arguments:
        return node
    return None


def plan_of(schema: CoreSchema, document: DocumentNode, attributes: Mapping[str, str]) -> Plan | None:
    """The plan of a validated ``document``, or None if it is not exactly the hot shape.

    ``attributes``: the overview type's GraphQL field names → the model's attribute names.
    """
    if len(document.definitions) != 1:
        return None
    op = document.definitions[0]
    if not isinstance(op, OperationDefinitionNode) or op.operation is not OperationType.QUERY or op.directives:
        return None
    query = schema.query_type
    if query is None or len(op.selection_set.selections) != 1:
        return None
    root = op.selection_set.selections[0]
    if not isinstance(root, FieldNode) or root.name.value != "person" or root.directives:
        return None
    arguments = root.arguments or ()
    if len(arguments) != 1 or arguments[0].name.value != "id" or root.selection_set is None:
        return None
    value = arguments[0].value
    definitions = op.variable_definitions or ()
    id_literal = id_variable = None
    if isinstance(value, StringValueNode | IntValueNode):
        id_literal = value.value
        if definitions:
            return None
    elif isinstance(value, VariableNode):
        id_variable = value.name.value
        # The one variable, ``ID!`` with no default (anything else: strawberry decides).
        if len(definitions) != 1:
            return None
        definition = definitions[0]
        declared = definition.type
        if (
            definition.variable.name.value != id_variable
            or definition.default_value is not None
            or definition.directives
            or not isinstance(declared, NonNullTypeNode)
            or not isinstance(declared.type, NamedTypeNode)
            or declared.type.name.value != "ID"
        ):
            return None
    else:
        return None
    person_type, _ = _named(query.fields["person"].type)
    if not isinstance(person_type, GraphQLObjectType) or "overview" not in person_type.fields:
        return None
    overview_type, overview_nullable = _named(person_type.fields["overview"].type)
    if not isinstance(overview_type, GraphQLObjectType) or overview_nullable:
        return None
    person_key = root.alias.value if root.alias else root.name.value
    overview_node: FieldNode | None = None
    order: list[str] = []
    typename_keys: list[str] = []
    for node in root.selection_set.selections:
        field = _plain(node)
        if field is None:
            return None
        key = field.alias.value if field.alias else field.name.value
        if field.name.value == TYPENAME and field.selection_set is None:
            typename_keys.append(key)
        elif field.name.value == "overview" and field.selection_set is not None and overview_node is None:
            overview_node = field
        else:
            return None  # another field, or a second overview (strawberry merges or reports those)
        order.append(key)
    if overview_node is None or overview_node.selection_set is None:
        return None
    overview_key = overview_node.alias.value if overview_node.alias else overview_node.name.value
    if overview_key in typename_keys:
        return None
    columns: list[Column] = []
    for node in overview_node.selection_set.selections:
        field = _plain(node)
        if field is None or field.selection_set is not None:
            return None
        key = field.alias.value if field.alias else field.name.value
        name = field.name.value
        if name == TYPENAME:
            columns.append(Column(key, None, None, False, constant=overview_type.name))
            continue
        definition_ = overview_type.fields.get(name)
        attribute = attributes.get(name)
        if definition_ is None or attribute is None:
            return None
        scalar, nullable = _named(definition_.type)
        serialise = SERIALISERS.get(scalar.name) if isinstance(scalar, GraphQLScalarType) else None
        if serialise is None:
            return None
        columns.append(Column(key, attribute, serialise, nullable))
    return Plan(
        operation_name=op.name.value if op.name else None,
        id_literal=id_literal,
        id_variable=id_variable,
        person_key=person_key,
        person_type=person_type.name,
        overview_key=overview_key,
        overview_node=overview_node,
        columns=tuple(columns),
        person_order=tuple(order),
    )


class Plans:
    """The plans of one schema's cached documents (made on first use after validation)."""

    def __init__(self, schema: CoreSchema, documents: Documents, attributes: Mapping[str, str]) -> None:
        self.schema = schema
        self.documents = documents
        self.attributes = dict(attributes)

    def get(self, query: str) -> Plan | None:
        """The plan of ``query`` if its document is cached, validated without errors and of the hot shape."""
        entry = self.documents.cached(query)
        if entry is None or entry.errors is None or entry.errors:
            return None  # not seen or not validated yet (strawberry does it), or invalid
        if not entry.planned:
            entry.plan = plan_of(self.schema, entry.document, self.attributes)
            entry.planned = True
        plan: Plan | None = entry.plan
        return plan
