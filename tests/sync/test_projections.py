"""Projections are pure: one change in, read-model operations out, no I/O."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from sync.projections import Add, Change, Delete, ProjectionError, Upsert, project, subjects

NOW = datetime(2026, 11, 27, tzinfo=UTC)

AC43 = {
    "detail_id": 9,
    "aac001": 1,
    "aab001": 2,
    "aae140": "116",
    "aae003": 202403,
    "aaa115": "10",
    "aac040": Decimal("9000.00"),
    "aae180": Decimal("10000.00"),
    "aae020": Decimal("800.00"),
    "aae022": Decimal("400.00"),
    "to_account": Decimal("1200.00"),
    "real_account": False,
    "aae078": "1",
    "paid_on": "2024-03-15",
}


def change(op: str, old: dict[str, object] | None, new: dict[str, object] | None, table: str = "ac43") -> Change:
    return Change(1, 100, table, op, old, new, NOW)


def test_insert_of_contribution_detail() -> None:
    ops = project(change("I", None, AC43))
    upsert = next(o for o in ops if isinstance(o, Upsert))
    assert upsert.model == "contribution_month" and upsert.key == (9,)
    assert upsert.values["paid"] is True and upsert.values["paid_on"] == date(2024, 3, 15)
    adds = {o.model: o for o in ops if isinstance(o, Add)}
    assert adds["unit_month_total"].key == (2, 202403, "116")
    assert adds["rights_statement"].key == (1, 2024, "116")
    # rows, base, unit, person, to_account, due, paid, virtual_unit: the unit's 800 is a 虚账 book entry,
    # so only the personal 400 is due and (being paid) paid.
    assert adds["unit_month_total"].deltas == (
        1,
        Decimal("10000.00"),
        Decimal("800.00"),
        Decimal("400.00"),
        Decimal("1200.00"),
        Decimal("400.00"),
        Decimal("400.00"),
        Decimal("800.00"),
    )


def test_update_moving_period_subtracts_old_and_adds_new() -> None:
    new = {**AC43, "aae003": 202404, "aae078": "0"}
    ops = project(change("U", AC43, new))
    adds = [o for o in ops if isinstance(o, Add) and o.model == "unit_month_total"]
    assert [(a.key[1], a.deltas[0], a.deltas[6]) for a in adds] == [
        (202403, -1, Decimal("-400.00")),
        (202404, 1, Decimal("0")),
    ]


def test_delete_removes_the_row() -> None:
    ops = project(change("D", AC43, None))
    assert Delete("contribution_month", (9,)) in ops


def test_key_change_deletes_the_old_key() -> None:
    old: dict[str, object] = {"aaa100": "AAC004", "aaa102": "1", "aaa103": "男"}
    new: dict[str, object] = {"aaa100": "AAC004", "aaa102": "9", "aaa103": "男"}
    ops = project(change("U", old, new, "aa10"))
    assert ops[0] == Delete("code_table", ("AAC004", "1"))
    assert isinstance(ops[1], Upsert) and ops[1].key == ("AAC004", "9")


def test_parameter_rows_keep_their_exact_values() -> None:
    row = {"aae001": 2023, "rate": Decimal("0.0397"), "source": "人社部", "published_on": None}
    (op,) = project(change("I", None, row, "ya_interest"))
    assert isinstance(op, Upsert)
    assert op.key == ("ya_interest", "000000", "2023")
    assert op.values["region_code"] == "000000" and op.values["value"]["rate"] == Decimal("0.0397")


def test_subjects_name_person_and_unit() -> None:
    assert subjects(change("I", None, AC43)) == {("person", "1"), ("unit", "2")}


@pytest.mark.parametrize(
    ("op", "old", "new", "table"),
    [("I", None, AC43, "zz01"), ("X", None, AC43, "ac43"), ("D", None, None, "ac43"), ("I", None, {}, "ac43")],
)
def test_bad_changes_raise(op: str, old: dict[str, object] | None, new: dict[str, object] | None, table: str) -> None:
    with pytest.raises(ProjectionError):
        project(change(op, old, new, table))
