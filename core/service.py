"""What the reference core decides, using hub/rules: contribution plans, payment arrival, yearly account
crediting and benefit approval. Each function works inside the caller's transaction (it never commits),
so a command is applied completely or not at all; the change-log triggers record every row it writes.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import psycopg
from psycopg import sql

from core import params as params_mod
from core.benefits import BenefitDecision, BenefitInputs, decide
from hub.ids import id_birth_date, id_sex, validate_id_number
from hub.rules.interest import InterestMethod, credit_year
from hub.rules.money import to_fen
from hub.rules.params import ANNUITY_AAE140, RegionParams, plan_month
from hub.rules.period import Period

BASIC = "120"
INDEX_PLACES = Decimal("0.0001")


class CoreError(Exception):
    """A command the core refuses; ``title`` is shown to the user."""

    def __init__(self, title: str) -> None:
        super().__init__(title)
        self.title = title


def _one(conn: psycopg.Connection[Any], sql: str, *args: object) -> tuple[Any, ...]:
    row = conn.execute(sql, args).fetchone()
    if row is None:
        raise CoreError("记录不存在")
    return tuple(row)


def person_region(conn: psycopg.Connection[Any], person_id: int) -> str:
    return str(_one(conn, "select aaa027 from core.ac01 where aac001 = %s", person_id)[0])


def plan_contributions(
    conn: psycopg.Connection[Any],
    person_id: int,
    unit_id: int,
    first: Period,
    last: Period,
    declared_wage: Decimal,
    *,
    kind: str = "10",
) -> list[int]:
    """Write the monthly contribution detail (ac43, unpaid) of a person for ``first``..``last``.

    One row per month and per 险种 the person is insured in (ac02). The base is the declared wage
    clamped to the period's bounds; amounts follow the period's rates (hub.rules.params.plan_month).
    Returns the new detail ids. Raises ParameterMissing when a period has no parameters.
    """
    if last < first:
        raise CoreError("缴费期间的结束月份早于开始月份")
    funding = str(_one(conn, "select funding from core.ab01 where aab001 = %s", unit_id)[0])
    params = params_mod.load(conn, person_region(conn, person_id))
    insurances = [
        r[0] for r in conn.execute("select aae140 from core.ac02 where aac001 = %s order by 1", (person_id,)).fetchall()
    ]
    if not insurances:
        raise CoreError("该人员未参保，不能核定缴费")
    rows = []
    for period in Period.range(first, last):
        for aae140 in insurances:
            c = plan_month(params, aae140, period, declared_wage, funding=funding)
            rows.append(
                (
                    person_id,
                    unit_id,
                    aae140,
                    int(period),
                    kind,
                    declared_wage,
                    c.base,
                    c.unit,
                    c.person,
                    c.to_account,
                    c.real_account,
                )
            )
    ids = []
    with conn.cursor() as cur:
        for row in rows:
            cur.execute(
                "insert into core.ac43 (detail_id, aac001, aab001, aae140, aae003, aaa115, aac040, aae180, aae020, "
                "aae022, to_account, real_account, aae078) "
                "values (nextval('core.ac43_detail_seq'), %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, '0') "
                "returning detail_id",
                row,
            )
            got = cur.fetchone()
            assert got is not None
            ids.append(int(got[0]))
    return ids


def record_arrival(conn: psycopg.Connection[Any], unit_id: int, period: Period, paid_on: date) -> int:
    """Record the payment arrival (到账) of a unit's month, as fed back by the tax bureau; returns rows."""
    cur = conn.execute(
        "update core.ac43 set aae078 = '1', paid_on = %s where aab001 = %s and aae003 = %s and aae078 = '0'",
        (paid_on, unit_id, int(period)),
    )
    return cur.rowcount


def credit_accounts(conn: psycopg.Connection[Any], person_id: int, year: int) -> dict[str, tuple[Decimal, Decimal]]:
    """Credit one year of the basic and annuity accounts (ic20) with interest; returns (interest, closing).

    Credited is what arrived (aae078 = '1') in the year; the opening is the prior year's closing; the
    rate is the year's 记账利率 and the method the region's INTEREST_METHOD parameter (DOMAIN.md §1.4).
    """
    params = params_mod.load(conn, person_region(conn, person_id))
    on = date(year, 12, 31)
    annuity = params.param(ANNUITY_AAE140, on)
    method = params.param("INTEREST_METHOD", on)
    rate = params.interest(year)
    result = {}
    for account, aae140 in (("1", BASIC), ("2", annuity)):
        credited_row = _one(
            conn,
            "select coalesce(sum(to_account), 0) from core.ac43 where aac001 = %s and aae140 = %s "
            "and aae003 between %s and %s and aae078 = '1'",
            person_id,
            aae140,
            year * 100 + 1,
            year * 100 + 12,
        )
        opening_row = conn.execute(
            "select aae240 from core.ic20 where aac001 = %s and account = %s and aae001 = %s",
            (person_id, account, year - 1),
        ).fetchone()
        opening = Decimal(opening_row[0]) if opening_row else to_fen(Decimal(0))
        credited = to_fen(Decimal(credited_row[0]))
        interest, closing = credit_year(opening, credited, rate, InterestMethod(method))
        conn.execute(
            "insert into core.ic20 (aac001, aae001, account, opening, credited, aae269, aae240, rate) "
            "values (%s, %s, %s, %s, %s, %s, %s, %s) on conflict (aac001, aae001, account) do update set "
            "opening = excluded.opening, credited = excluded.credited, aae269 = excluded.aae269, "
            "aae240 = excluded.aae240, rate = excluded.rate",
            (person_id, year, account, opening, credited, interest, closing, rate),
        )
        result[account] = (interest, closing)
    return result


def average_index(conn: psycopg.Connection[Any], params: RegionParams, person_id: int) -> tuple[Decimal, int]:
    """本人平均缴费指数 over the basic-pension months: mean of base / the period's bound wage; and the months."""
    rows = conn.execute(
        "select aae003, aae180 from core.ac43 where aac001 = %s and aae140 = %s and aaa115 <> '21' order by 1",
        (person_id, BASIC),
    ).fetchall()
    if not rows:
        return Decimal(0), 0
    total = sum((Decimal(base) / params.bound_wage(Period.parse(p)) for p, base in rows), Decimal(0))
    months = len({p for p, _ in rows})
    return (total / len(rows)).quantize(INDEX_PLACES), months


def approve_benefit(
    conn: psycopg.Connection[Any],
    person_id: int,
    retire_date: date,
    *,
    old_method_amount: Decimal | None = None,
) -> BenefitDecision:
    """Approve (核定) the benefit of a person retiring on ``retire_date`` and record it (ic60, ic61).

    Marks the person retired (ac01) and stops contributions (ac02.aac031 = 3). Raises CoreError for an
    unknown person or a retirement before birth; ParameterMissing when a parameter is not configured.
    """
    birth, position = _one(conn, "select aac006, position_level from core.ac01 where aac001 = %s", person_id)
    if retire_date <= birth:
        raise CoreError("退休日期不能早于出生日期")
    params = params_mod.load(conn, person_region(conn, person_id))
    age_months = (retire_date.year - birth.year) * 12 + retire_date.month - birth.month
    z, paid_months = average_index(conn, params, person_id)
    deemed = conn.execute(
        "select deemed_months from core.ac02 where aac001 = %s and aae140 = %s", (person_id, BASIC)
    ).fetchone()
    balances = dict(
        conn.execute(
            "select distinct on (account) account, aae240 from core.ic20 where aac001 = %s and aae001 < %s "
            "order by account, aae001 desc",
            (person_id, retire_date.year + 1),
        ).fetchall()
    )
    deemed_index = Decimal(params.param(f"DEEMED_INDEX_{position or 'DEFAULT'}", retire_date))
    decision = decide(
        params,
        BenefitInputs(
            retire_date=retire_date,
            age_months=age_months,
            average_index=z,
            paid_months=paid_months,
            deemed_months=int(deemed[0]) if deemed else 0,
            deemed_index=deemed_index,
            account_balance=Decimal(balances.get("1", Decimal("0.00"))),
            annuity_balance=Decimal(balances.get("2", Decimal("0.00"))),
            old_method_amount=old_method_amount,
        ),
    )
    conn.execute("delete from core.ic61 where aac001 = %s", (person_id,))
    conn.execute(
        "insert into core.ic60 (aac001, aic162, method, monthly_total, monthly_paid, annuity_monthly, approved_on) "
        "values (%s, %s, %s, %s, %s, %s, current_date) on conflict (aac001) do update set aic162 = excluded.aic162, "
        "method = excluded.method, monthly_total = excluded.monthly_total, monthly_paid = excluded.monthly_paid, "
        "annuity_monthly = excluded.annuity_monthly, approved_on = excluded.approved_on",
        (
            person_id,
            retire_date,
            decision.method,
            decision.approved,
            decision.paid_by_agency,
            decision.benefit.annuity_after_tax,
        ),
    )
    with conn.cursor() as cur:
        cur.executemany(
            "insert into core.ic61 (aac001, item, amount) values (%s, %s, %s)",
            [(person_id, item, amount) for item, amount in decision.items],
        )
    conn.execute("update core.ac01 set aac084 = '1', aic162 = %s where aac001 = %s", (retire_date, person_id))
    conn.execute("update core.ac02 set aac031 = '3' where aac001 = %s", (person_id,))
    return decision


# Declarations applied through the command API (core/commands.py) ----------------------------------
# Each function below is one declaration's effect; like the rest of this module it works inside the
# caller's transaction and raises CoreError (a reason shown to the unit) without writing anything.


def _next_id(conn: psycopg.Connection[Any], table: str, column: str) -> int:
    """The next internal id of ``table`` (serialised per table by a transaction-level advisory lock)."""
    conn.execute("select pg_advisory_xact_lock(hashtext(%s))", (f"core.{table}.{column}",))
    query = sql.SQL("select coalesce(max({}), 0) + 1 from core.{}").format(
        sql.Identifier(column), sql.Identifier(table)
    )
    row = conn.execute(query).fetchone()
    assert row is not None
    return int(row[0])


def _unit(conn: psycopg.Connection[Any], unit_id: int) -> tuple[str, str]:
    """(统筹区, 财政供款) of a unit; CoreError when the unit is unknown."""
    row = conn.execute("select aaa027, funding from core.ab01 where aab001 = %s", (unit_id,)).fetchone()
    if row is None:
        raise CoreError("单位不存在")
    return str(row[0]), str(row[1])


def _person(conn: psycopg.Connection[Any], person_id: int) -> tuple[str, bool]:
    """(统筹区, retired) of a person; CoreError when unknown."""
    row = conn.execute("select aaa027, aac084 from core.ac01 where aac001 = %s", (person_id,)).fetchone()
    if row is None:
        raise CoreError(f"个人编号{person_id}不存在")
    return str(row[0]), row[1] == "1"


def _open_relation(conn: psycopg.Connection[Any], person_id: int) -> tuple[int, int, date] | None:
    """The person's open person–unit relation (id, unit, start), if any."""
    row = conn.execute(
        "select aaz157, aab001, start_date from core.ac20 where aac001 = %s and end_date is null "
        "order by start_date desc limit 1 for update",
        (person_id,),
    ).fetchone()
    return (int(row[0]), int(row[1]), row[2]) if row else None


def _require_on_roster(conn: psycopg.Connection[Any], unit_id: int, person_id: int) -> tuple[int, date]:
    _person(conn, person_id)
    rel = _open_relation(conn, person_id)
    if rel is None or rel[1] != unit_id:
        raise CoreError(f"个人编号{person_id}不在本单位在册参保名单中")
    return rel[0], rel[2]


def _add_relation(conn: psycopg.Connection[Any], person_id: int, unit_id: int, start: date) -> int:
    relation_id = _next_id(conn, "ac20", "aaz157")
    conn.execute(
        "insert into core.ac20 (aaz157, aac001, aab001, start_date) values (%s, %s, %s, %s)",
        (relation_id, person_id, unit_id, start),
    )
    return relation_id


def _due_of(conn: psycopg.Connection[Any], detail_ids: list[int]) -> Decimal:
    row = conn.execute(
        "select coalesce(sum(aae020 + aae022), 0) from core.ac43 where detail_id = any(%s)", (detail_ids,)
    ).fetchone()
    assert row is not None
    return Decimal(row[0])


def _plan_from(
    conn: psycopg.Connection[Any], person_id: int, unit_id: int, first: Period, today: Period, wage: Decimal
) -> dict[str, Any]:
    """Plan ``first``..``today``: the months before the current one as 补收 (31), the current one as 正常 (10)."""
    back: list[int] = []
    if first < today:
        back = plan_contributions(conn, person_id, unit_id, first, today - 1, wage, kind="31")
    current = plan_contributions(conn, person_id, unit_id, max(first, today), max(first, today), wage)
    return {
        "back_months": max(today - first, 0),
        "back_amount": str(_due_of(conn, back)) if back else "0.00",
        "planned_rows": len(back) + len(current),
    }


def register_person(
    conn: psycopg.Connection[Any],
    unit_id: int,
    *,
    id_number: str,
    name: str,
    ethnicity: str,
    work_start: date,
    phone: str,
    position_level: str | None,
) -> int:
    """人员基本信息登记: a new ac01 row in the unit's 统筹区; sex and birth date from the ID number."""
    region, _ = _unit(conn, unit_id)
    number = validate_id_number(id_number)
    taken = conn.execute("select aac001 from core.ac01 where aac002 = %s", (number,)).fetchone()
    if taken is not None:
        raise CoreError(f"该公民身份号码已登记，个人编号{taken[0]}")
    birth = id_birth_date(number)
    if work_start <= birth:
        raise CoreError("参加工作时间应晚于出生日期")
    person_id = _next_id(conn, "ac01", "aac001")
    conn.execute(
        "insert into core.ac01 (aac001, aac002, aac003, aac004, aac005, aac006, aac007, aac067, aaa027, "
        "position_level) "
        "values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
        (person_id, number, name, id_sex(number), ethnicity, birth, work_start, phone, region, position_level),
    )
    return person_id


PERSON_FIELDS = {"phone": "aac067", "ethnicity": "aac005", "position_level": "position_level"}


def change_person(conn: psycopg.Connection[Any], unit_id: int, person_id: int, changes: dict[str, str]) -> list[str]:
    """人员普通信息变更 of a person on the unit's roster; returns the fields changed."""
    _require_on_roster(conn, unit_id, person_id)
    fields = sorted(k for k in changes if k in PERSON_FIELDS)
    if not fields:
        raise CoreError("没有可变更的内容")
    assignments = sql.SQL(", ").join(sql.SQL("{} = %s").format(sql.Identifier(PERSON_FIELDS[k])) for k in fields)
    conn.execute(
        sql.SQL("update core.ac01 set {} where aac001 = %s").format(assignments),
        (*(changes[k] for k in fields), person_id),
    )
    return fields


def enrol(
    conn: psycopg.Connection[Any], unit_id: int, person_id: int, start: date, wage: Decimal, today: date
) -> dict[str, Any]:
    """人员新参保 (增员): insure the person in both 险种 from ``start`` and plan contributions to this month.

    Months before the current one are planned as 补收 (aaa115 31) at the declared wage, clamped per period.
    """
    _unit(conn, unit_id)
    _, retired = _person(conn, person_id)
    if retired:
        raise CoreError("该人员已离退休，不能参保")
    if _open_relation(conn, person_id) is not None:
        raise CoreError("该人员正在参保缴费，请先由原单位办理停保")
    if Period.of(start) > Period.of(today):
        raise CoreError("参保日期不能晚于经办当月")
    params = params_mod.load(conn, person_region(conn, person_id))
    annuity = params.param(ANNUITY_AAE140, start)
    for aae140 in (BASIC, annuity):
        conn.execute(
            "insert into core.ac02 (aac001, aae140, aab001, aac008, aac030, aac031, aac049) "
            "values (%s, %s, %s, '1', %s, '1', %s) on conflict (aac001, aae140) do update set "
            "aab001 = excluded.aab001, aac008 = '1', aac030 = excluded.aac030, aac031 = '1'",
            (person_id, aae140, unit_id, start, int(Period.of(start))),
        )
    relation_id = _add_relation(conn, person_id, unit_id, start)
    return {
        "relation_id": relation_id,
        **_plan_from(conn, person_id, unit_id, Period.of(start), Period.of(today), wage),
    }


def stop(conn: psycopg.Connection[Any], unit_id: int, person_id: int, stop_date: date) -> dict[str, Any]:
    """人员停保 (减员) on ``stop_date``: end the relation, suspend both 险种 and reverse (退收, aaa115 21) what
    was planned for the months after the stop month, paid or not (a paid month becomes a refund due)."""
    relation_id, start = _require_on_roster(conn, unit_id, person_id)
    if stop_date < start:
        raise CoreError("停保日期不能早于本次参保日期")
    conn.execute("update core.ac20 set end_date = %s where aaz157 = %s", (stop_date, relation_id))
    conn.execute(
        "update core.ac02 set aac008 = '2', aac031 = '2' where aac001 = %s and aab001 = %s and aac031 = '1'",
        (person_id, unit_id),
    )
    rows = conn.execute(
        "insert into core.ac43 (detail_id, aac001, aab001, aae140, aae003, aaa115, aac040, aae180, aae020, aae022, "
        "to_account, real_account, aae078) "
        "select nextval('core.ac43_detail_seq'), aac001, aab001, aae140, aae003, '21', -sum(aac040), -sum(aae180), "
        "-sum(aae020), -sum(aae022), -sum(to_account), real_account, '0' from core.ac43 "
        "where aac001 = %s and aab001 = %s and aae003 > %s group by aac001, aab001, aae140, aae003, real_account "
        "having sum(aae020 + aae022) > 0 returning aae003, aae020 + aae022",
        (person_id, unit_id, int(Period.of(stop_date))),
    ).fetchall()
    refund = -sum((Decimal(r[1]) for r in rows), Decimal(0))
    return {
        "relation_id": relation_id,
        "refund_months": len({r[0] for r in rows}),
        "refund_amount": str(to_fen(refund)),
    }


def resume(
    conn: psycopg.Connection[Any], unit_id: int, person_id: int, resume_date: date, wage: Decimal, today: date
) -> dict[str, Any]:
    """人员续保: resume the suspended 险种 in this unit from ``resume_date`` and plan (补收 for past months)."""
    _unit(conn, unit_id)
    suspended = conn.execute(
        "select count(*) from core.ac02 where aac001 = %s and aab001 = %s and aac031 = '2'", (person_id, unit_id)
    ).fetchone()
    if not suspended or not suspended[0]:
        raise CoreError("该人员不是本单位暂停缴费人员，不能续保")
    if _open_relation(conn, person_id) is not None:
        raise CoreError("该人员正在参保缴费，不能续保")
    last_end = conn.execute(
        "select max(end_date) from core.ac20 where aac001 = %s and aab001 = %s", (person_id, unit_id)
    ).fetchone()
    if last_end and last_end[0] is not None and Period.of(resume_date) <= Period.of(last_end[0]):
        raise CoreError("续保月份应晚于停保月份")
    if Period.of(resume_date) > Period.of(today):
        raise CoreError("续保日期不能晚于经办当月")
    conn.execute(
        "update core.ac02 set aac008 = '1', aac031 = '1', aac030 = %s "
        "where aac001 = %s and aab001 = %s and aac031 = '2'",
        (resume_date, person_id, unit_id),
    )
    relation_id = _add_relation(conn, person_id, unit_id, resume_date)
    first = Period.of(resume_date)
    return {"relation_id": relation_id, **_plan_from(conn, person_id, unit_id, first, Period.of(today), wage)}


def declare_wages(
    conn: psycopg.Connection[Any], unit_id: int, year: int, wages: list[tuple[int, Decimal]], today: date
) -> dict[str, Any]:
    """年度缴费工资申报: make each person's contributions of ``year`` (up to this month) follow the declared wage.

    A month not yet planned is planned (补收 before the current month); a planned month whose net amounts
    differ from the new plan gets a 调基补差 row (aaa115 41) with the difference, so the net of every month
    equals the plan at the declared wage, clamped to that period's bounds. Every person must be on the
    unit's roster. Set-based reads and one pipelined batch of inserts: a declaration holds thousands of rows.
    """
    _, funding = _unit(conn, unit_id)
    now = Period.of(today)
    ids = [person_id for person_id, _ in wages]
    starts = dict(
        conn.execute(
            "select aac001, start_date from core.ac20 where aab001 = %s and end_date is null and aac001 = any(%s) "
            "for update",
            (unit_id, ids),
        ).fetchall()
    )
    missing = [person_id for person_id in ids if person_id not in starts]
    if missing:
        raise CoreError(
            f"个人编号{missing[0]}不在本单位在册参保名单中" + (f"等{len(missing)}人" if len(missing) > 1 else "")
        )
    regions = dict(conn.execute("select aac001, aaa027 from core.ac01 where aac001 = any(%s)", (ids,)).fetchall())
    insurances: dict[int, list[str]] = {}
    for person_id, aae140 in conn.execute(
        "select aac001, aae140 from core.ac02 where aac001 = any(%s) order by 1, 2", (ids,)
    ).fetchall():
        insurances.setdefault(int(person_id), []).append(str(aae140))
    first_of_year, last = Period(year, 1), min(Period(year, 12), now)
    nets: dict[tuple[int, int], dict[str, tuple[Any, ...]]] = {}
    for person_id, period, aae140, *sums in conn.execute(
        "select aac001, aae003, aae140, sum(aac040), sum(aae180), sum(aae020), sum(aae022), sum(to_account) "
        "from core.ac43 where aab001 = %s and aac001 = any(%s) and aae003 between %s and %s group by 1, 2, 3",
        (unit_id, ids, int(first_of_year), int(last)),
    ).fetchall():
        nets.setdefault((int(person_id), int(period)), {})[str(aae140)] = tuple(sums)
    by_region: dict[str, RegionParams] = {}
    rows: list[tuple[Any, ...]] = []
    planned = adjusted = 0
    difference = Decimal(0)
    zero = (Decimal(0),) * 5
    for person_id, wage in wages:
        region = str(regions[person_id])
        params = by_region.get(region) or by_region.setdefault(region, params_mod.load(conn, region))
        codes = insurances.get(person_id)
        if not codes:
            raise CoreError(f"个人编号{person_id}未参保，不能核定缴费")
        first = max(first_of_year, Period.of(starts[person_id]))
        for period in Period.range(first, last) if first <= last else ():
            net = nets.get((person_id, int(period)))
            changed = False
            for aae140 in codes:
                c = plan_month(params, aae140, period, wage, funding=funding)
                if net is None:
                    kind = "10" if period == now else "31"
                    rows.append(
                        (
                            person_id,
                            aae140,
                            int(period),
                            kind,
                            wage,
                            c.base,
                            c.unit,
                            c.person,
                            c.to_account,
                            c.real_account,
                        )
                    )
                    continue
                old = net.get(aae140, zero)
                delta = (wage - old[0], c.base - old[1], c.unit - old[2], c.person - old[3], c.to_account - old[4])
                if any(delta[1:]):
                    changed = True
                    difference += delta[2] + delta[3]
                    rows.append((person_id, aae140, int(period), "41", *delta, c.real_account))
            planned += net is None
            adjusted += changed
    with conn.cursor() as cur:
        cur.executemany(
            "insert into core.ac43 (detail_id, aac001, aab001, aae140, aae003, aaa115, aac040, aae180, aae020, "
            "aae022, to_account, real_account, aae078) values (nextval('core.ac43_detail_seq'), "
            "%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, '0')",
            [(r[0], unit_id, *r[1:]) for r in rows],
        )
    return {
        "persons": len(wages),
        "planned_months": planned,
        "adjusted_months": adjusted,
        "adjustment_amount": str(to_fen(difference)),
    }


UNIT_FIELDS = {
    "name": "aab004",
    "address": "address",
    "contact_name": "contact_name",
    "contact_phone": "contact_phone",
    "bank_name": "bank_name",
    "bank_account": "bank_account",
}


def change_unit(conn: psycopg.Connection[Any], unit_id: int, changes: dict[str, str]) -> list[str]:
    """单位信息变更 and 单位银行账户与联系人维护; returns the fields changed."""
    _unit(conn, unit_id)
    fields = sorted(k for k in changes if k in UNIT_FIELDS)
    if not fields:
        raise CoreError("没有可变更的内容")
    assignments = sql.SQL(", ").join(sql.SQL("{} = %s").format(sql.Identifier(UNIT_FIELDS[k])) for k in fields)
    conn.execute(
        sql.SQL("update core.ab01 set {} where aab001 = %s").format(assignments),
        (*(changes[k] for k in fields), unit_id),
    )
    return fields
