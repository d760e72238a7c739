"""Parsed and validated GraphQL documents, kept per query text (one bounded LRU per schema).

A client sends the same few query texts over and over; parsing them (with the token limit) and
validating them (graphql-core's rules, strawberry's own, and ours: depth, aliases, introspection in
production) gives the same document and the same errors every time. strawberry's ``ParserCache`` and
``ValidationCache`` do this too, but the latter keys its cache by the parsed document, whose hash walks
the whole syntax tree on every request; this cache is keyed by the text itself.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from graphql import DocumentNode, GraphQLError, parse
from graphql.validation import ASTValidationRule
from strawberry.extensions import SchemaExtension
from strawberry.schema.schema import validate_document


@dataclass
class _Entry:
    document: DocumentNode
    errors: tuple[GraphQLError, ...] | None = None  # None: not validated yet
    plan: Any = None  # gateway.graphql.compiled.Plan of a valid document of the hot shape
    planned: bool = False  # whether ``plan`` was worked out


class Documents:
    """The shared cache of one schema: ``max_entries`` query texts, least recently used dropped first."""

    def __init__(self, *, rules: tuple[type[ASTValidationRule], ...], max_tokens: int, max_entries: int) -> None:
        self.rules = rules
        self.max_tokens = max_tokens
        self.max_entries = max_entries
        self._entries: OrderedDict[str, _Entry] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def cached(self, query: str) -> _Entry | None:
        """The entry of ``query`` if it is cached (marked as recently used), else None."""
        entry = self._entries.get(query)
        if entry is not None:
            self._entries.move_to_end(query)
        return entry

    def parsed(self, query: str) -> _Entry:
        """The entry of ``query``, parsed now if needed (a syntax or token-limit error is raised)."""
        entry = self._entries.get(query)
        if entry is not None:
            self._entries.move_to_end(query)
            return entry
        entry = _Entry(parse(query, max_tokens=self.max_tokens))
        self._entries[query] = entry
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)
        return entry


class DocumentCache(SchemaExtension):
    """Per request: the token limit and the extra rules on the operation, then parse and validate once per
    query text (what ``MaxTokensLimiter``, ``AddValidationRules``, ``ParserCache`` and ``ValidationCache``
    do together)."""

    def __init__(self, documents: Documents) -> None:
        self.documents = documents
        self._entry: _Entry | None = None

    def on_operation(self) -> Iterator[None]:
        context = self.execution_context
        context.parse_options["max_tokens"] = self.documents.max_tokens
        context.validation_rules = context.validation_rules + self.documents.rules
        yield

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        if context.query:
            self._entry = self.documents.parsed(context.query)
            context.graphql_document = self._entry.document
        yield

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        entry = self._entry
        if entry is not None and context.graphql_document is entry.document:
            if entry.errors is None:
                entry.errors = tuple(
                    validate_document(context.schema._schema, entry.document, context.validation_rules)
                )
            context.pre_execution_errors = list(entry.errors)
        yield
