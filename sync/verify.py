"""Reconciliation: prove that the query store equals what the core says, model by model.

Encrypted columns (ID number, phone, bank account, address) are compared on their plaintext: the store's
envelope is opened and must hold the normalised core value, its blind index (where it has one) must be the
one of that value, and the old plaintext column must be empty. That pass streams both sides in key order
through Python (an envelope cannot be opened in SQL); every other column is compared as follows.

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
from hub.crypto import keys, ring
from hub.crypto.fields import Keyring, normalise
from hub.crypto.sm import SealBroken
from sync import apply, feed
from sync.models import AGGREGATE_MODELS, PARAMETERS, ROW_MODELS, RowModel, sealed_store_columns
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
    model: RowModel | None = None  # set when the model has encrypted columns (compared in Python)


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
            m.checked_columns,
            m.select_sql(),
            frozenset(c.name for c in m.cols if c.type == "jsonb"),
            m if m.sealed_cols else None,
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


def _key_text(key: tuple[Any, ...]) -> str:
    # As PostgreSQL writes ``row(key)::text`` for the integer keys of the models with sealed columns.
    return "(" + ",".join(str(k) for k in key) + ")"


def sealed_differences(
    core: psycopg.Connection[Any], store: psycopg.Connection[Any], model: RowModel, keyring: Keyring | None
) -> list[str]:
    """Keys (as ``_key_text``) whose encrypted columns do not hold the core's values; both sides in key order."""
    keys_sql = ", ".join(model.key)
    plain = [c.name for c in model.sealed_cols]
    stored: list[str] = []
    for col in model.sealed_cols:
        assert col.sealed is not None
        stored += sealed_store_columns(col.sealed)
    differing: list[str] = []
    with (
        core.transaction(),
        core.cursor(name="verify_sealed_core") as core_cur,
        store.cursor(name="verify_sealed_store") as store_cur,
    ):
        core_cur.itersize = store_cur.itersize = 5000
        core_cur.execute(f"select {keys_sql}, {', '.join(plain)} from ({model.select_sql()}) e order by {keys_sql}")
        store_cur.execute(f"select {keys_sql}, {', '.join(stored)} from {model.name} order by {keys_sql}")
        n = len(model.key)
        core_rows, store_rows = iter(core_cur), iter(store_cur)
        c_row, s_row = next(core_rows, None), next(store_rows, None)
        while c_row is not None and s_row is not None:
            c_key, s_key = tuple(c_row[:n]), tuple(s_row[:n])
            if c_key < s_key:
                c_row = next(core_rows, None)  # missing in the store: the checksum pass reports it
            elif s_key < c_key:
                s_row = next(store_rows, None)
            else:
                if not _sealed_equal(model, keyring, c_key, c_row[n:], s_row[n:]):
                    differing.append(_key_text(c_key))
                c_row, s_row = next(core_rows, None), next(store_rows, None)
    return differing


def _sealed_equal(
    model: RowModel, keyring: Keyring | None, key: tuple[Any, ...], plain: tuple[Any, ...], stored: tuple[Any, ...]
) -> bool:
    at = 0
    for i, col in enumerate(model.sealed_cols):
        assert col.sealed is not None
        indexed = col.sealed.index_column is not None
        width = 3 if indexed else 2
        envelope, leftover = stored[at], stored[at + width - 1]
        index = stored[at + 1] if indexed else None
        at += width
        value = plain[i]
        if leftover is not None:
            return False  # plaintext left in the store
        if value is None:
            if envelope is not None or index is not None:
                return False
            continue
        if envelope is None or keyring is None or (indexed and index is None):
            return False
        try:
            opened = keyring.open(bytes(envelope), col.sealed.context(key))
        except SealBroken:
            return False
        if opened != normalise(col.sealed.kind, str(value)):
            return False
        if index is not None and bytes(index) != keyring.blind_index(col.sealed.kind, str(value)):
            return False
    return True


def _repair(core: psycopg.Connection[Any], store: psycopg.Connection[Any], spec: ModelSpec, report: ModelReport) -> int:
    rewrite = report.missing + report.differing
    drop = report.extra + report.differing
    key_expr = _key_expr(spec).replace("e.", "")
    with store.transaction():
        if drop:
            store.execute(f"delete from {spec.name} where {key_expr} = any(%s)", (drop,))
        if rewrite and spec.model is not None:
            # Sealed on the way in, as the projections do.
            model = spec.model
            found = core.execute(
                f"select {', '.join(model.column_names)} from ({spec.core_sql}) e where {_key_expr(spec)} = any(%s)",
                (rewrite,),
            ).fetchall()
            keyring = apply.store_keyring(store)
            with store.cursor() as cur:
                cur.executemany(
                    f"insert into {spec.name} ({', '.join(model.store_columns)}) "
                    f"values ({', '.join(['%s'] * len(model.store_columns))})",
                    [apply.store_row(spec.name, dict(zip(model.column_names, r, strict=True)), keyring) for r in found],
                )
        elif rewrite:
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
        keyring = ring.for_reading(store, keys.QUERY_TABLE)
        store.rollback()

        def check(spec: ModelSpec) -> ModelReport:
            report, _, _ = compare(core, store, spec)
            if spec.model is not None:
                sealed = sealed_differences(core, store, spec.model, keyring)
                report.differing = sorted(set(report.differing) | set(sealed))
            store.rollback()
            return report

        for i, spec in enumerate(all_specs):
            report = check(spec)
            if not report.equal and _wait_caught_up(core, store, wait_seconds):
                report = check(spec)
            if repair and not report.equal:
                report.repaired = _repair(core, store, spec, report)
            reports.append(report)
            if progress:
                progress(spec.name, i + 1, len(all_specs))
    return reports
