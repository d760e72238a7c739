"""The read models of the query store and how each one maps from the core tables.

One declaration per read model serves three readers: the incremental projections (Python, per
change), the backfill (set-based SQL in the core, streamed with COPY) and the reconciliation
(checksums of the same SQL against the store). ``sync verify`` proves the two paths agree.

Plain names here (``person_id``, ``period``); indicator codes stay on the core side of the mapping.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal
from typing import Any

from hub.crypto import columns as sealed_columns
from hub.crypto.fields import Keyring
from hub.crypto.rotation import EncryptedColumn

# Store column types, as written in the migration.
BIGINT = "bigint"
INT = "integer"
TEXT = "text"
DATE = "date"
MONEY = "numeric(14,2)"
SUM = "numeric(18,2)"
RATE = "numeric(7,4)"
COORD = "numeric(9,6)"
MONTHS = "numeric(5,1)"
BOOL = "boolean"
JSONB = "jsonb"

Row = Mapping[str, Any]


@dataclass(frozen=True)
class Col:
    """A store column: its name, type, the SQL expression over the core row ``t`` and the same in Python.

    A ``sealed`` column is stored encrypted: the store holds its envelope and blind index (``sealed``
    names them) and keeps the plain column empty.
    """

    name: str
    type: str
    sql: str
    py: Callable[[Row], Any]
    sealed: EncryptedColumn | None = None


def sealed(col: Col, column: EncryptedColumn) -> Col:
    """``col`` kept encrypted in the store as ``column`` (its envelope, and its blind index when it has one)."""
    assert column.plaintext == col.name
    return replace(col, sealed=column)


def sealed_store_columns(column: EncryptedColumn) -> list[str]:
    """What a sealed value occupies in the store: envelope, blind index (if any), emptied plain column."""
    assert column.plaintext is not None
    index = [column.index_column] if column.index_column is not None else []
    return [column.column, *index, column.plaintext]


def _conv(type_: str, value: Any) -> Any:
    if value is None:
        return None
    if type_ == DATE:
        return date.fromisoformat(value)
    if type_ in (BIGINT, INT):
        return int(value)
    if type_ in (MONEY, SUM, RATE, COORD, MONTHS):
        return Decimal(str(value))
    if type_ == BOOL:
        return bool(value)
    if type_ == TEXT:
        return str(value)
    return value


def c(name: str, type_: str, source: str | None = None) -> Col:
    """A column copied from the core column ``source`` (default: same name)."""
    src = source or name
    return Col(name, type_, f"t.{src}::{type_}", lambda r: _conv(type_, r[src]))


def added(name: str, type_: str, source: str | None = None) -> Col:
    """A column the core gained after change images were already logged: an older image lacks the key and
    projects as NULL (as the column's value was then), instead of stopping the sync on a KeyError."""
    src = source or name
    return Col(name, type_, f"t.{src}::{type_}", lambda r: _conv(type_, r.get(src)))


def flag(name: str, source: str, true_value: str) -> Col:
    """A boolean column from a coded core flag."""
    return Col(name, BOOL, f"(t.{source} = '{true_value}')", lambda r: r[source] == true_value)


@dataclass(frozen=True)
class RowModel:
    """A read model with one row per core row of ``source``."""

    name: str
    source: str
    key: tuple[str, ...]
    cols: tuple[Col, ...]
    subjects: tuple[tuple[str, str], ...] = ()  # (subject type, store column)

    def __post_init__(self) -> None:
        for col in self.cols:
            assert col.sealed is None or col.sealed.key_columns == self.key, f"{self.name}.{col.name}: row key"

    def project(self, row: Row) -> dict[str, Any]:
        return {col.name: col.py(row) for col in self.cols}

    @property
    def sealed_cols(self) -> tuple[Col, ...]:
        return tuple(col for col in self.cols if col.sealed is not None)

    @property
    def store_columns(self) -> tuple[str, ...]:
        """The store columns a projected row is written to (a sealed one: envelope, index, emptied plain)."""
        names: list[str] = []
        for col in self.cols:
            if col.sealed is None:
                names.append(col.name)
            else:
                names += sealed_store_columns(col.sealed)
        return tuple(names)

    @property
    def checked_columns(self) -> tuple[str, ...]:
        """The columns ``sync verify`` compares by SQL checksum (sealed ones are compared in Python)."""
        return tuple(col.name for col in self.cols if col.sealed is None)

    def store_values(self, values: Mapping[str, Any], keyring: Keyring | None) -> tuple[Any, ...]:
        """``values`` (a projected row) as written to ``store_columns``, sealing where the model says."""
        if not self.sealed_cols:
            return tuple(values[c] for c in self.column_names)
        assert keyring is not None
        key = self.key_of(values)
        out: list[Any] = []
        for col in self.cols:
            value = values[col.name]
            if col.sealed is None:
                out.append(value)
            elif col.sealed.index_column is None:  # envelope only (no blind index to compute)
                text = None if value is None else str(value)
                out += [None if text is None else keyring.seal(col.sealed.kind, text, col.sealed.context(key)), None]
            else:
                out += [*col.sealed.seal(keyring, None if value is None else str(value), key), None]
        return tuple(out)

    def key_of(self, values: Mapping[str, Any]) -> tuple[Any, ...]:
        return tuple(values[k] for k in self.key)

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(col.name for col in self.cols)

    def select_sql(self, where: str = "true") -> str:
        exprs = ", ".join(f"{col.sql} as {col.name}" for col in self.cols)
        return f"select {exprs} from core.{self.source} t where {where}"


@dataclass(frozen=True)
class Measure:
    """An additive column of an aggregate model: the contribution of one core row to its group."""

    name: str
    type: str
    sql: str
    py: Callable[[Row], Any]


@dataclass(frozen=True)
class AggregateModel:
    """A read model that sums measures of core rows per group; ``rows`` counts them (0 → row removed)."""

    name: str
    source: str
    key: tuple[Col, ...]
    measures: tuple[Measure, ...]
    subjects: tuple[tuple[str, str], ...] = ()
    extra_ddl: tuple[str, ...] = field(default=())

    def key_of_row(self, row: Row) -> tuple[Any, ...]:
        return tuple(k.py(row) for k in self.key)

    def measures_of(self, row: Row) -> tuple[Any, ...]:
        return (1, *(m.py(row) for m in self.measures))

    @property
    def key_names(self) -> tuple[str, ...]:
        return tuple(k.name for k in self.key)

    @property
    def measure_names(self) -> tuple[str, ...]:
        return ("rows", *(m.name for m in self.measures))

    @property
    def column_names(self) -> tuple[str, ...]:
        return self.key_names + self.measure_names

    def select_sql(self, where: str = "true") -> str:
        keys = ", ".join(f"{k.sql} as {k.name}" for k in self.key)
        sums = ", ".join(f"sum({m.sql})::{m.type} as {m.name}" for m in self.measures)
        groups = ", ".join(str(i + 1) for i in range(len(self.key)))
        return (
            f"select {keys}, count(*)::bigint as rows, {sums} from core.{self.source} t where {where} group by {groups}"
        )


@dataclass(frozen=True)
class ParameterModel:
    """``region_parameter``: every row of every parameter table, as JSON, keyed by table and primary key."""

    name: str
    tables: Mapping[str, tuple[tuple[str, ...], str | None]]  # table -> (primary key columns, region column)

    @property
    def column_names(self) -> tuple[str, ...]:
        return ("kind", "region_code", "param_key", "value")

    key = ("kind", "region_code", "param_key")

    def project(self, table: str, row: Row) -> dict[str, Any]:
        pk, region = self.tables[table]
        return {
            "kind": table,
            "region_code": str(row[region]) if region else "000000",
            "param_key": "|".join(_key_text(row[k]) for k in pk),
            "value": row,
        }

    def select_sql(self, table: str, where: str = "true") -> str:
        pk, region = self.tables[table]
        region_sql = f"t.{region}::text" if region else "'000000'"
        key_sql = " || '|' || ".join(f"t.{k}::text" for k in pk)
        return (
            f"select '{table}'::text as kind, {region_sql} as region_code, {key_sql} as param_key, "
            f"to_jsonb(t) as value from core.{table} t where {where}"
        )


def _key_text(value: Any) -> str:
    # Same text as PostgreSQL's ``::text`` of the value as it came through to_jsonb().
    return str(value)


def _money(source: str) -> Callable[[Row], Decimal]:
    return lambda r: Decimal(str(r[source]))


def _due(r: Row) -> Decimal:
    return Decimal(str(r["aae022"])) + (Decimal(str(r["aae020"])) if r["real_account"] else Decimal(0))


def _paid(r: Row) -> Decimal:
    return _due(r) if r["aae078"] == "1" else Decimal(0)


def _virtual(r: Row) -> Decimal:
    return Decimal(0) if r["real_account"] else Decimal(str(r["aae020"]))


_DUE_SQL = "(t.aae022 + case when t.real_account then t.aae020 else 0 end)"

# Measures shared by the two aggregates over contribution detail (ac43).
_AC43_MEASURES = (
    Measure("base_total", SUM, "t.aae180", _money("aae180")),
    Measure("unit_amount", SUM, "t.aae020", _money("aae020")),
    Measure("person_amount", SUM, "t.aae022", _money("aae022")),
    Measure("to_account", SUM, "t.to_account", _money("to_account")),
    Measure("due", SUM, _DUE_SQL, _due),
    Measure("paid", SUM, f"case when t.aae078 = '1' then {_DUE_SQL} else 0 end", _paid),
    Measure("virtual_unit", SUM, "case when t.real_account then 0 else t.aae020 end", _virtual),
)


ROW_MODELS: tuple[RowModel, ...] = (
    RowModel(
        "person_overview",
        "ac01",
        ("person_id",),
        (
            c("person_id", BIGINT, "aac001"),
            c("id_type", TEXT, "aac058"),
            sealed(c("id_number", TEXT, "aac002"), sealed_columns.PERSON_ID_NUMBER),
            c("name", TEXT, "aac003"),
            c("sex", TEXT, "aac004"),
            c("ethnicity", TEXT, "aac005"),
            c("birth_date", DATE, "aac006"),
            c("work_start", DATE, "aac007"),
            sealed(c("phone", TEXT, "aac067"), sealed_columns.PERSON_PHONE),
            c("region_code", TEXT, "aaa027"),
            flag("retired", "aac084", "1"),
            c("retire_date", DATE, "aic162"),
            c("position_level", TEXT),
            sealed(added("address", TEXT), sealed_columns.PERSON_ADDRESS),
            added("postal_code", TEXT),
        ),
        (("person", "person_id"),),
    ),
    RowModel(
        "person_insurance",
        "ac02",
        ("person_id", "insurance"),
        (
            c("person_id", BIGINT, "aac001"),
            c("insurance", TEXT, "aae140"),
            c("unit_id", BIGINT, "aab001"),
            c("status", TEXT, "aac008"),
            c("start_date", DATE, "aac030"),
            c("pay_status", TEXT, "aac031"),
            c("first_period", INT, "aac049"),
            c("deemed_months", INT),
        ),
        (("person", "person_id"),),
    ),
    RowModel(
        "contribution_month",
        "ac43",
        ("detail_id",),
        (
            c("detail_id", BIGINT),
            c("person_id", BIGINT, "aac001"),
            c("unit_id", BIGINT, "aab001"),
            c("insurance", TEXT, "aae140"),
            c("period", INT, "aae003"),
            c("kind", TEXT, "aaa115"),
            c("declared_wage", MONEY, "aac040"),
            c("base", MONEY, "aae180"),
            c("unit_amount", MONEY, "aae020"),
            c("personal_amount", MONEY, "aae022"),
            c("to_account", MONEY),
            c("real_account", BOOL),
            flag("paid", "aae078", "1"),
            c("paid_on", DATE),
        ),
        (("person", "person_id"), ("unit", "unit_id")),
    ),
    RowModel(
        "account_year",
        "ic20",
        ("person_id", "account", "year"),
        (
            c("person_id", BIGINT, "aac001"),
            Col(
                "account",
                TEXT,
                "(case t.account when '1' then 'BASIC' else 'ANNUITY' end)",
                lambda r: "BASIC" if r["account"] == "1" else "ANNUITY",
            ),
            c("year", INT, "aae001"),
            c("opening", MONEY),
            c("credited", MONEY),
            c("interest", MONEY, "aae269"),
            c("closing", MONEY, "aae240"),
            c("rate", RATE),
        ),
        (("person", "person_id"),),
    ),
    RowModel(
        "benefit",
        "ic60",
        ("person_id",),
        (
            c("person_id", BIGINT, "aac001"),
            c("retire_date", DATE, "aic162"),
            c("method", TEXT),
            c("monthly_total", MONEY),
            c("monthly_paid", MONEY),
            c("annuity_monthly", MONEY),
            c("approved_on", DATE),
        ),
        (("person", "person_id"),),
    ),
    RowModel(
        "benefit_item",
        "ic61",
        ("person_id", "item"),
        (c("person_id", BIGINT, "aac001"), c("item", TEXT), c("amount", MONEY)),
        (("person", "person_id"),),
    ),
    RowModel(
        "benefit_payment",
        "ic62",
        ("person_id", "period"),
        (
            c("person_id", BIGINT, "aac001"),
            c("period", INT, "aae003"),
            c("amount", MONEY),
            c("paid_on", DATE),
        ),
        (("person", "person_id"),),
    ),
    RowModel(
        "card",
        "ac50",
        ("person_id",),
        (
            c("person_id", BIGINT, "aac001"),
            c("card_no", TEXT, "aaz500"),
            c("status", TEXT),
            c("bank", TEXT),
            c("issued_on", DATE),
        ),
        (("person", "person_id"),),
    ),
    RowModel(
        "unit_overview",
        "ab01",
        ("unit_id",),
        (
            c("unit_id", BIGINT, "aab001"),
            c("uscc", TEXT),
            c("name", TEXT, "aab004"),
            c("unit_type", TEXT, "aab019"),
            c("funding", TEXT),
            c("collection", TEXT),
            c("agency_id", BIGINT, "aab034"),
            c("region_code", TEXT, "aaa027"),
            c("status", TEXT, "aab051"),
            c("contact_name", TEXT),
            sealed(c("contact_phone", TEXT), sealed_columns.UNIT_CONTACT_PHONE),
            c("address", TEXT),
            c("bank_name", TEXT),
            sealed(c("bank_account", TEXT), sealed_columns.UNIT_BANK_ACCOUNT),
        ),
        (("unit", "unit_id"),),
    ),
    RowModel(
        "unit_roster",
        "ac20",
        ("relation_id",),
        (
            c("relation_id", BIGINT, "aaz157"),
            c("unit_id", BIGINT, "aab001"),
            c("person_id", BIGINT, "aac001"),
            c("start_date", DATE),
            c("end_date", DATE),
        ),
        (("person", "person_id"), ("unit", "unit_id")),
    ),
    RowModel(
        "agency",
        "ae10",
        ("agency_id",),
        (
            c("agency_id", BIGINT, "aaz001"),
            c("name", TEXT, "aae044"),
            c("region_code", TEXT, "aaa027"),
            c("address", TEXT),
            c("phone", TEXT),
            c("longitude", COORD),
            c("latitude", COORD),
            c("opening_hours", JSONB),
        ),
        (("agency", "agency_id"),),
    ),
    RowModel(
        "code_table",
        "aa10",
        ("code_type", "value"),
        (c("code_type", TEXT, "aaa100"), c("value", TEXT, "aaa102"), c("name", TEXT, "aaa103")),
    ),
)

AGGREGATE_MODELS: tuple[AggregateModel, ...] = (
    AggregateModel(
        "unit_month_total",
        "ac43",
        (c("unit_id", BIGINT, "aab001"), c("period", INT, "aae003"), c("insurance", TEXT, "aae140")),
        _AC43_MEASURES,
        (("unit", "unit_id"),),
    ),
    AggregateModel(
        "rights_statement",
        "ac43",
        (
            c("person_id", BIGINT, "aac001"),
            Col("year", INT, "(t.aae003 / 100)::integer", lambda r: int(r["aae003"]) // 100),
            c("insurance", TEXT, "aae140"),
        ),
        _AC43_MEASURES,
        (("person", "person_id"),),
    ),
)

PARAMETERS = ParameterModel(
    "region_parameter",
    {
        "ya_region": (("aaa027",), "aaa027"),
        "ya_wage": (("aae001", "kind"), "aaa027"),
        "ya_rate": (("aae140", "payer", "from_period"), "aaa027"),
        "ya_base_bound": (("from_period",), "aaa027"),
        "ya_interest": (("aae001",), None),
        "ya_payout_months": (("age",), None),
        "ya_late_fee": (("valid_from",), "aaa027"),
        "ya_tax_bracket": (("valid_from", "lower_bound"), None),
        "ya_transition_share": (("from_date",), None),
        "ya_param": (("code", "valid_from"), "aaa027"),
    },
)

ROW_MODELS_BY_SOURCE: dict[str, tuple[RowModel, ...]] = {}
for _m in ROW_MODELS:
    ROW_MODELS_BY_SOURCE[_m.source] = (*ROW_MODELS_BY_SOURCE.get(_m.source, ()), _m)
AGGREGATES_BY_SOURCE: dict[str, tuple[AggregateModel, ...]] = {}
for _a in AGGREGATE_MODELS:
    AGGREGATES_BY_SOURCE[_a.source] = (*AGGREGATES_BY_SOURCE.get(_a.source, ()), _a)

KNOWN_TABLES = frozenset(ROW_MODELS_BY_SOURCE) | frozenset(AGGREGATES_BY_SOURCE) | frozenset(PARAMETERS.tables)

ALL_MODEL_NAMES: tuple[str, ...] = (
    *(m.name for m in ROW_MODELS),
    *(a.name for a in AGGREGATE_MODELS),
    PARAMETERS.name,
)
