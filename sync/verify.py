"""Reconciliation: prove that the query store equals what the core says, model by model.

Both sides compute, per bucket of keys, the row count and an order-independent checksum (the sum of
60-bit prefixes of each row's md5). Only buckets that differ are compared key by key, so a large
model that is equal costs two aggregate scans. ``repair`` rewrites the differing keys from the core.

The core is read at one snapshot. If the store is behind it (sync still applying), differences are
re-checked after waiting for the worker, so a verify during light traffic converges.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import psycopg

from hub import pg
from sync import apply, feed
from sync.models import AGGREGATE_MODELS, PARAMETERS, ROW_MODELS
from sync.worker import FEED

BUCKETS = 1024
Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class ModelSpec:
    name: str
    key: tuple[str, ...]
    columns: tuple[str, ...]
    core_sql: str  # yields exactly ``columns`` with the store's types
    json_columns: frozenset[str] = frozenset()


@dataclass
class ModelReport:
    name: str
    core_rows: int = 0
    store_rows: int = 0
    missing: list[str] = field(default_factory=list)  # in the core, not in the store
    extra: list[str] = field(default_factory=list)  # in the store, not in the core
    differing: list[str] = field(default_factory=list)
    repaired: int = 0

    @property
    def equal(self) -> bool:
        return not (self.missing or self.extra or self.differing) and self.core_rows == self.store_rows


def specs() -> Iterator[ModelSpec]:
    for m in ROW_MODELS:
        yield ModelSpec(
            m.name,
            m.key,
            m.column_names,
            m.select_sql(),
            frozenset(c.name for c in m.cols if c.type == "jsonb"),
        )
    for a in AGGREGATE_MODELS:
        yield ModelSpec(a.name, a.key_names, a.column_names, a.select_sql())
    union = " union all ".join(PARAMETERS.select_sql(t) for t in PARAMETERS.tables)
    yield ModelSpec(PARAMETERS.name, PARAMETERS.key, PARAMETERS.column_names, union, frozenset({"value"}))


def _key_expr(spec: ModelSpec) -> str:
    return f"row({', '.join('e.' + k for k in spec.key)})::text"


def _row_expr(spec: ModelSpec) -> str:
    return f"md5(row({', '.join('e.' + c for c in spec.columns)})::text)"


def _bucket_sql(spec: ModelSpec, source: str) -> str:
    return (
        f"select (hashtext({_key_expr(spec)}) & {BUCKETS - 1}) as b, count(*), "
        f"sum(('x' || left({_row_expr(spec)}, 15))::bit(60)::bigint) "
        f"from ({source}) e group by 1"
    )


def _keys_sql(spec: ModelSpec, source: str) -> str:
    return (
        f"select {_key_expr(spec)}, {_row_expr(spec)} from ({source}) e "
        f"where (hashtext({_key_expr(spec)}) & {BUCKETS - 1}) = any(%s)"
    )


def _store_source(spec: ModelSpec) -> str:
    return f"select {', '.join(spec.columns)} from {spec.name}"


def _buckets(conn: psycopg.Connection[Any], sql: str) -> dict[int, tuple[int, int]]:
    return {int(b): (int(n), int(s)) for b, n, s in conn.execute(sql).fetchall()}


def compare(
    core: psycopg.Connection[Any], store: psycopg.Connection[Any], spec: ModelSpec
) -> tuple[ModelReport, dict[str, str], dict[str, str]]:
    core_b = _buckets(core, _bucket_sql(spec, spec.core_sql))
    store_b = _buckets(store, _bucket_sql(spec, _store_source(spec)))
    report = ModelReport(spec.name, sum(n for n, _ in core_b.values()), sum(n for n, _ in store_b.values()))
    bad = sorted(b for b in set(core_b) | set(store_b) if core_b.get(b) != store_b.get(b))
    if not bad:
        return report, {}, {}
    core_k = dict(core.execute(_keys_sql(spec, spec.core_sql), (bad,)).fetchall())
    store_k = dict(store.execute(_keys_sql(spec, _store_source(spec)), (bad,)).fetchall())
    report.missing = sorted(k for k in core_k if k not in store_k)
    report.extra = sorted(k for k in store_k if k not in core_k)
    report.differing = sorted(k for k in core_k if k in store_k and core_k[k] != store_k[k])
    return report, core_k, store_k


def _repair(core: psycopg.Connection[Any], store: psycopg.Connection[Any], spec: ModelSpec, report: ModelReport) -> int:
    rewrite = report.missing + report.differing
    drop = report.extra + report.differing
    key_expr = _key_expr(spec).replace("e.", "")
    with store.transaction():
        if drop:
            store.execute(f"delete from {spec.name} where {key_expr} = any(%s)", (drop,))
        if rewrite:
            # jsonb travels as text so that numbers keep their exact scale.
            cols = ", ".join(f"e.{c}::text" if c in spec.json_columns else f"e.{c}" for c in spec.columns)
            rows = core.execute(
                f"select {cols} from ({spec.core_sql}) e where {_key_expr(spec)} = any(%s)", (rewrite,)
            ).fetchall()
            marks = ", ".join("%s::jsonb" if c in spec.json_columns else "%s" for c in spec.columns)
            with store.cursor() as cur:
                cur.executemany(f"insert into {spec.name} ({', '.join(spec.columns)}) values ({marks})", rows)
    store.commit()
    return len(set(rewrite) | set(drop))


def _wait_caught_up(core: psycopg.Connection[Any], store: psycopg.Connection[Any], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        cp = apply.load_checkpoint(store, FEED)
        store.rollback()
        if cp is not None and feed.pending(core, cp)[0] == 0:
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)


def verify(
    core_url: str,
    store_url: str,
    *,
    repair: bool = False,
    wait_seconds: float = 10.0,
    progress: Progress | None = None,
) -> list[ModelReport]:
    """Compare every read model with the core; with ``repair``, rewrite the differing keys."""
    reports: list[ModelReport] = []
    all_specs = list(specs())
    with pg.connect(core_url, autocommit=True) as core, pg.connect(store_url) as store:
        for i, spec in enumerate(all_specs):
            report, _, _ = compare(core, store, spec)
            store.rollback()
            if not report.equal and _wait_caught_up(core, store, wait_seconds):
                report, _, _ = compare(core, store, spec)
                store.rollback()
            if repair and not report.equal:
                report.repaired = _repair(core, store, spec, report)
            reports.append(report)
            if progress:
                progress(spec.name, i + 1, len(all_specs))
    return reports
