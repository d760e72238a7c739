"""Projections: pure functions from one core change to upserts, deletes and additions of read models."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sync.models import (
    AGGREGATES_BY_SOURCE,
    KNOWN_TABLES,
    PARAMETERS,
    ROW_MODELS_BY_SOURCE,
    Row,
)


@dataclass(frozen=True)
class Change:
    """One row of the core's change log."""

    id: int
    txid: int
    table: str
    op: str  # I, U or D
    old: Row | None
    new: Row | None
    changed_at: datetime


@dataclass(frozen=True)
class Upsert:
    model: str
    key: tuple[Any, ...]
    values: dict[str, Any]


@dataclass(frozen=True)
class Delete:
    model: str
    key: tuple[Any, ...]


@dataclass(frozen=True)
class Add:
    """Add ``deltas`` (rows count first, then the measures) to the aggregate row ``key``."""

    model: str
    key: tuple[Any, ...]
    deltas: tuple[Any, ...]


Op = Upsert | Delete | Add


class ProjectionError(Exception):
    """A change that cannot be projected: corrupt, of an unknown table, or failing a mapping."""

    def __init__(self, change_id: int, reason: str) -> None:
        super().__init__(f"change {change_id}: {reason}")
        self.change_id = change_id
        self.reason = reason


def _check(change: Change) -> None:
    if change.table not in KNOWN_TABLES:
        raise ProjectionError(change.id, f"unknown table {change.table!r}")
    if change.op not in ("I", "U", "D"):
        raise ProjectionError(change.id, f"unknown operation {change.op!r}")
    if change.op in ("I", "U") and not isinstance(change.new, dict):
        raise ProjectionError(change.id, "missing new row image")
    if change.op in ("U", "D") and not isinstance(change.old, dict):
        raise ProjectionError(change.id, "missing old row image")


def project(change: Change) -> list[Op]:
    """The read-model operations that carry ``change`` into the query store."""
    _check(change)
    try:
        return list(_project(change))
    except ProjectionError:
        raise
    except (KeyError, TypeError, ValueError, ArithmeticError) as exc:
        raise ProjectionError(change.id, f"{type(exc).__name__}: {exc}") from exc


def _project(change: Change) -> Iterator[Op]:
    old, new = change.old, change.new
    for model in ROW_MODELS_BY_SOURCE.get(change.table, ()):
        new_values = model.project(new) if new is not None else None
        if old is not None:
            old_key = model.key_of(model.project(old))
            if new_values is None or model.key_of(new_values) != old_key:
                yield Delete(model.name, old_key)
        if new_values is not None:
            yield Upsert(model.name, model.key_of(new_values), new_values)
    for agg in AGGREGATES_BY_SOURCE.get(change.table, ()):
        if old is not None:
            yield Add(agg.name, agg.key_of_row(old), tuple(-v for v in agg.measures_of(old)))
        if new is not None:
            yield Add(agg.name, agg.key_of_row(new), agg.measures_of(new))
    if change.table in PARAMETERS.tables:
        new_param = PARAMETERS.project(change.table, new) if new is not None else None
        if old is not None:
            old_param = PARAMETERS.project(change.table, old)
            old_key = tuple(old_param[k] for k in PARAMETERS.key)
            if new_param is None or tuple(new_param[k] for k in PARAMETERS.key) != old_key:
                yield Delete(PARAMETERS.name, old_key)
        if new_param is not None:
            yield Upsert(PARAMETERS.name, tuple(new_param[k] for k in PARAMETERS.key), new_param)


def subjects(change: Change) -> set[tuple[str, str]]:
    """The (subject type, id) pairs whose screens this change affects, for cache invalidation."""
    found: set[tuple[str, str]] = set()
    for row in (change.old, change.new):
        if row is None:
            continue
        for model in ROW_MODELS_BY_SOURCE.get(change.table, ()):
            values = model.project(row)
            found.update((kind, str(values[col])) for kind, col in model.subjects)
        for agg in AGGREGATES_BY_SOURCE.get(change.table, ()):
            key = dict(zip(agg.key_names, agg.key_of_row(row), strict=True))
            found.update((kind, str(key[col])) for kind, col in agg.subjects)
        if change.table in PARAMETERS.tables:
            found.add(("parameter", PARAMETERS.project(change.table, row)["region_code"]))
    return found
