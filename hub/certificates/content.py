"""What a certificate states, as plain data: rendered into the PDF, digested into the verification code,
and kept masked in the hub DB so the public verification page can show it.

Three kinds: 个人参保证明, 个人权益记录单 (the yearly rights statement of 人社部令第14号, DOMAIN.md §4.3:
缴费 and 个人账户 information per year) and 单位参保证明 (DOMAIN.md §4.2). Builders take values the
caller has read from the query store; amounts are ``Decimal`` and printed to the fen.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Any, Literal

from cryptography.hazmat.primitives import hashes

from hub import ids
from hub.rules.money import to_fen
from hub.rules.period import Period

MaskKind = Literal["none", "name", "id_number", "credit_code"]


class Kind(StrEnum):
    PERSON = "person"
    STATEMENT = "statement"
    UNIT = "unit"


TITLES: dict[Kind, str] = {
    Kind.PERSON: "个人参保证明",
    Kind.STATEMENT: "个人权益记录单",
    Kind.UNIT: "单位参保证明",
}


@dataclass(frozen=True)
class Line:
    """One labelled value; ``mask`` says how the public verification page shows it."""

    label: str
    value: str
    mask: MaskKind = "none"


@dataclass(frozen=True)
class Table:
    title: str
    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]

    def __post_init__(self) -> None:
        for row in self.rows:
            if len(row) != len(self.headers):
                raise ValueError(f"table {self.title}: a row has {len(row)} cells for {len(self.headers)} headers")


@dataclass(frozen=True)
class Content:
    """Everything a certificate states. ``subject`` is the internal id (person or unit), never an ID number."""

    kind: Kind
    subject: str
    lines: tuple[Line, ...]
    tables: tuple[Table, ...] = ()
    notes: tuple[str, ...] = field(default=())

    @property
    def title(self) -> str:
        return TITLES[self.kind]

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "title": self.title,
            "subject": self.subject,
            "lines": [[line.label, line.value] for line in self.lines],
            "tables": [
                {"title": t.title, "headers": list(t.headers), "rows": [list(r) for r in t.rows]} for t in self.tables
            ],
            "notes": list(self.notes),
        }

    def canonical(self) -> bytes:
        """A byte string that changes with any stated value: sorted-key compact UTF-8 JSON."""
        return canonical_json(self.as_dict())

    def digest(self) -> bytes:
        """SM3 of the canonical form (DOMAIN.md §6.3)."""
        return sm3(self.canonical())

    def masked(self) -> dict[str, Any]:
        """What the public verification page shows: names and numbers masked, amounts and dates kept.

        The subject's internal id is left out: the page is public.
        """
        data = self.as_dict()
        data.pop("subject")
        data["lines"] = [[line.label, mask(line.value, line.mask)] for line in self.lines]
        return data


def canonical_json(data: Any) -> bytes:
    return json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


def sm3(data: bytes) -> bytes:
    h = hashes.Hash(hashes.SM3())
    h.update(data)
    return h.finalize()


def mask(value: str, kind: MaskKind) -> str:
    if kind == "name":
        return ids.mask_name(value)
    if kind == "id_number":
        return ids.mask_id_number(value)
    if kind == "credit_code":
        # 统一社会信用代码 of a unit is public register data, but the page shows only enough to compare.
        return value[:4] + "*" * max(len(value) - 8, 0) + value[-4:] if len(value) > 8 else value
    return value


def money(amount: Decimal) -> str:
    """An amount to the fen with thousands separators, e.g. 12,345.60."""
    return f"{to_fen(amount):,.2f}"


def period_text(value: int | Period | None) -> str:
    if value is None:
        return "—"
    p = value if isinstance(value, Period) else Period.parse(value)
    return f"{p.year}年{p.month:02d}月"


def date_text(day: date) -> str:
    return f"{day.year}年{day.month:02d}月{day.day:02d}日"


# Builders -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class InsuranceLine:
    """One 险种 of a person or unit: name, status, first period, months paid, paid through, arrears."""

    insurance: str
    status: str
    first_period: int | None
    paid_months: int
    paid_through: int | None
    unit_name: str = ""
    arrears: Decimal = Decimal(0)


@dataclass(frozen=True)
class StatementYear:
    """One 险种 of one year of the rights statement (the query store's rights_statement row)."""

    insurance: str
    months: int
    base_total: Decimal
    unit_amount: Decimal
    person_amount: Decimal
    to_account: Decimal
    arrears: Decimal
    year_end_balance: Decimal | None


def person_certificate(
    *, person_id: int, name: str, id_number: str, region: str, insurances: Sequence[InsuranceLine], as_of: date
) -> Content:
    """个人参保证明: who, which 险种 since when, months paid, paid through."""
    if not insurances:
        raise ValueError("个人参保证明 needs at least one 险种")
    return Content(
        kind=Kind.PERSON,
        subject=f"person:{person_id}",
        lines=(
            Line("姓名", name, "name"),
            Line("公民身份号码", id_number, "id_number"),
            Line("参保地", region),
            Line("数据截至", date_text(as_of)),
        ),
        tables=(
            Table(
                "参保缴费情况",
                ("险种", "参保单位", "参保状态", "首次参保年月", "累计缴费月数", "缴费至"),
                tuple(
                    (
                        i.insurance,
                        i.unit_name,
                        i.status,
                        period_text(i.first_period),
                        str(i.paid_months),
                        period_text(i.paid_through),
                    )
                    for i in insurances
                ),
            ),
        ),
        notes=("特此证明。",),
    )


def rights_statement(
    *, person_id: int, name: str, id_number: str, year: int, lines: Sequence[StatementYear], as_of: date
) -> Content:
    """个人权益记录单 of one year: contributions per 险种 and the accounts at year end (DOMAIN.md §4.3)."""
    if not lines:
        raise ValueError("个人权益记录单 needs at least one line")
    return Content(
        kind=Kind.STATEMENT,
        subject=f"person:{person_id}",
        lines=(
            Line("姓名", name, "name"),
            Line("公民身份号码", id_number, "id_number"),
            Line("记录年度", f"{year}年"),
            Line("数据截至", date_text(as_of)),
        ),
        tables=(
            Table(
                "缴费及个人账户",
                ("险种", "缴费月数", "缴费基数合计", "单位缴费", "个人缴费", "记入个人账户", "欠缴", "年末账户储存额"),
                tuple(
                    (
                        s.insurance,
                        str(s.months),
                        money(s.base_total),
                        money(s.unit_amount),
                        money(s.person_amount),
                        money(s.to_account),
                        money(s.arrears),
                        "—" if s.year_end_balance is None else money(s.year_end_balance),
                    )
                    for s in lines
                ),
            ),
        ),
        notes=("如对本记录有异议，可向参保地社会保险经办机构申请核查。",),
    )


def unit_certificate(
    *,
    unit_id: int,
    unit_name: str,
    credit_code: str,
    insured_count: int,
    insurances: Sequence[InsuranceLine],
    as_of: date,
) -> Content:
    """单位参保证明: the unit, its 险种, head count, paid through and arrears."""
    if not insurances:
        raise ValueError("单位参保证明 needs at least one 险种")
    return Content(
        kind=Kind.UNIT,
        subject=f"unit:{unit_id}",
        lines=(
            Line("单位名称", unit_name),
            Line("统一社会信用代码", credit_code, "credit_code"),
            Line("在职参保人数", str(insured_count)),
            Line("数据截至", date_text(as_of)),
        ),
        tables=(
            Table(
                "参保缴费情况",
                ("险种", "参保状态", "首次参保年月", "缴费至", "欠缴金额"),
                tuple(
                    (i.insurance, i.status, period_text(i.first_period), period_text(i.paid_through), money(i.arrears))
                    for i in insurances
                ),
            ),
        ),
        notes=("特此证明。",),
    )
