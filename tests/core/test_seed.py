"""The demo generator (core/seed.py): valid identifiers, coherent statuses, determinism, and the
set-based SQL equal to hub.rules on samples."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from stdnum.cn import ric, uscc

from core import params as core_params
from core import seed as seed_mod
from hub import ids, pg
from hub.rules.interest import InterestMethod, credit_year
from hub.rules.params import RegionParams, plan_month
from hub.rules.period import Period
from hub.rules.transition import compare, transition_share
from tests.fixtures.servers import Servers

PERSONS = 300
YEARS = 3
END_YEAR = 2025
RNG_SEED = 20261127


@dataclass
class Seeded:
    url: str
    counts: dict[str, int]
    stages: list[tuple[str, int, int]]


def _seed(servers: Servers, tag: str, **kwargs: Any) -> Seeded:
    url = servers.pg_url(f"seedtest_{tag}_{uuid.uuid4().hex[:8]}")
    stages: list[tuple[str, int, int]] = []
    counts = seed_mod.seed(
        url,
        persons=kwargs.pop("persons", PERSONS),
        years=kwargs.pop("years", YEARS),
        end_year=END_YEAR,
        progress=lambda stage, done, total: stages.append((stage, done, total)),
        **kwargs,
    )
    return Seeded(url, counts, stages)


@pytest.fixture(scope="module")
def seeded(servers: Servers) -> Iterator[Seeded]:
    result = _seed(servers, "a", rng_seed=RNG_SEED)
    yield result
    pg.drop_database(result.url)


@pytest.fixture(scope="module")
def conn(seeded: Seeded) -> Iterator[seed_mod.Conn]:
    with pg.connect(seeded.url) as c:
        yield c


def _rows(conn: seed_mod.Conn, query: str, *args: Any) -> list[tuple[Any, ...]]:
    return conn.execute(query, args or None).fetchall()


def test_counts_match_tables(seeded: Seeded, conn: seed_mod.Conn) -> None:
    for table, count in seeded.counts.items():
        assert _rows(conn, f"select count(*) from core.{table}")[0][0] == count, table
    assert seeded.counts["ac01"] == PERSONS
    assert seeded.counts["ab01"] == PERSONS // 40
    assert seeded.counts["ac02"] == 2 * PERSONS
    assert seeded.counts["chg_log"] == 0  # bulk load without change capture
    for table in ("ac43", "ic20", "ic60", "ic61", "ic62", "ac50", "ae10", "ya_wage"):
        assert seeded.counts[table] > 0, table
    assert 10 <= len({r[0] for r in _rows(conn, "select aaa027 from core.ya_region")}) <= 16
    stages = {stage for stage, _, _ in seeded.stages}
    assert seed_mod.STAGE_AC43 in stages and seed_mod.STAGE_BENEFIT in stages
    assert all(done <= total for _, done, total in seeded.stages)
    assert not _rows(conn, "select 1 from pg_namespace where nspname = 'seed_tmp'")


def test_identifiers_valid(conn: seed_mod.Conn) -> None:
    people = _rows(conn, "select aac002, aac006, aac004, aac003, aac067 from core.ac01")
    for number, birth, sex, name, phone in people:
        assert ric.is_valid(number), number
        assert ric.get_birth_date(number) == birth
        assert int(number[16]) % 2 == (1 if sex == "1" else 0)
        assert ids.validate_id_number(number) == number
        assert name and "*" not in name
        assert phone is None or (len(phone) == 11 and phone[0] == "1" and phone[1] in "3456789")
    assert any(p[4] is None for p in people)  # a few phones missing
    names = {p[3] for p in people}
    assert any(ord(ch) > 0xFFFF for n in names for ch in n)  # CJK Ext-B (𠮷, 𪚥)
    assert any("䶮" in n for n in names)
    for code, aab019 in _rows(conn, "select uscc, aab019 from core.ab01"):
        assert uscc.validate(code) == code
        assert ids.validate_uscc(code) == code
        assert code[:2] in ("11", "12")
        assert aab019[0] in "35"
    cards = _rows(conn, "select aaz500, identify_code, status from core.ac50")
    assert len(cards) >= 0.85 * PERSONS
    for card_no, identify_code, status in cards:
        assert len(card_no) == 9 and card_no.isdigit()
        assert len(identify_code) == 32 and identify_code[:6].isdigit() and identify_code[6:16] == "D156000005"
        assert all(c in "0123456789ABCDEF" for c in identify_code[16:])
        assert status in "123"


def test_ages_match_status(conn: seed_mod.Conn) -> None:
    end = date(END_YEAR, 12, 31)
    people = _rows(
        conn,
        "select p.aac001, p.aac004, p.aac006, p.aac007, p.aac084, p.aic162, p.position_level, b.aac008, b.aac031 "
        "from core.ac01 p join core.ac02 b on b.aac001 = p.aac001 and b.aae140 = '120'",
    )
    retired = 0
    for aac001, sex, birth, work, flag, retire, position, aac008, aac031 in people:
        assert work >= birth.replace(year=birth.year + 18, day=min(birth.day, 28))
        if flag == "1":
            retired += 1
            assert retire is not None and date(2014, 10, 1) <= retire <= end
            months = Period.of(retire) - Period.of(birth)
            assert months == seed_mod.retirement_age_months(birth, sex, position)
            if retire < date(2025, 1, 1):  # no delay before the 2025 reform
                expected = 60 if sex == "1" else 50 if position == "工勤" else 55
                assert months == expected * 12, aac001
            assert (aac008, aac031) == ("1", "3")
        else:
            assert retire is None
            age = end.year - birth.year
            assert 22 <= age <= 59, aac001
            assert seed_mod.retirement_date(birth, sex, position) > end
            assert (aac008, aac031) in {("1", "1"), ("2", "2"), ("4", "3")}
    assert 0.12 * PERSONS <= retired <= 0.28 * PERSONS
    # No contribution outside working life.
    bad = _rows(
        conn,
        "select count(*) from core.ac43 c join core.ac01 p using (aac001) "
        "where (p.aic162 is not null and c.aae003 >= extract(year from p.aic162) * 100 + extract(month from p.aic162))"
        "   or c.aae003 < extract(year from p.aac007) * 100 + extract(month from p.aac007)",
    )
    assert bad[0][0] == 0
    # A few people changed unit.
    assert _rows(conn, "select count(*) from (select aac001 from core.ac20 group by 1 having count(*) > 1) t")[0][0] > 0


def test_generated_retirement_follows_the_rule() -> None:
    # 工勤 women start from 50 (hub.rules.retirement has the worked examples)
    assert seed_mod.retirement_age_months(date(1975, 3, 1), "2", "工勤") == 602
    # other women from 55: 1975-03 is 62 months after 1970-01, 62 // 4 + 1 = 16 → 660 + 16 = 676
    assert seed_mod.retirement_age_months(date(1975, 3, 1), "2", "科员") == 676


def test_contributions_equal_the_rule(conn: seed_mod.Conn) -> None:
    """Every 37th ac43 row recomputed with plan_month: proves the set-based SQL equals the rule."""
    params: dict[str, RegionParams] = {}
    rows = _rows(
        conn,
        "select c.aac001, c.aae140, c.aae003, c.aae180, c.aae020, c.aae022, c.to_account, c.real_account, "
        "u.funding, u.aaa027 from core.ac43 c join core.ab01 u using (aab001) where c.detail_id % 37 = 0",
    )
    assert len(rows) > 100
    for aac001, aae140, aae003, base, unit, person, to_account, real, funding, region in rows:
        rp = params.get(region) or params.setdefault(region, core_params.load(conn, region))
        period = Period.parse(aae003)
        declared = seed_mod.declared_wage(
            aac001, seed_mod.wage_factor(RNG_SEED, aac001), period.year, rp.wage(period.year - 1, "ONPOST")
        )
        expected = plan_month(rp, aae140, period, declared, funding=funding)
        assert (expected.base, expected.unit, expected.person, expected.to_account, expected.real_account) == (
            base,
            unit,
            person,
            to_account,
            real,
        ), (aac001, aae140, aae003)
    # Both bounds and both account kinds are exercised somewhere.
    kinds = _rows(
        conn,
        "select bool_or(not real_account), bool_or(aae078 = '0' and paid_on is null), "
        "bool_and((aae078 = '1') = (paid_on is not null)) from core.ac43",
    )[0]
    assert kinds == (True, True, True)
    virtual = _rows(
        conn,
        "select distinct c.aae140, u.funding from core.ac43 c join core.ab01 u using (aab001) where not c.real_account",
    )
    assert virtual == [("116", "1")]


def test_accounts_follow_credit_year(conn: seed_mod.Conn) -> None:
    rows = _rows(
        conn,
        "select i.aac001, i.aae001, i.account, i.opening, i.credited, i.aae269, i.aae240, i.rate, "
        "coalesce((select sum(c.to_account) from core.ac43 c where c.aac001 = i.aac001 and c.aae078 = '1' "
        "   and c.aae003 / 100 = i.aae001 and (c.aae140 = '120') = (i.account = '1')), 0), "
        "(select value from core.ya_param where code = 'INTEREST_METHOD' and aaa027 = p.aaa027), "
        "lag(i.aae240) over (partition by i.aac001, i.account order by i.aae001), "
        "(select rate from core.ya_interest where aae001 = i.aae001) "
        "from core.ic20 i join core.ac01 p using (aac001)",
    )
    assert rows
    for _, _, _, opening, credited, interest, closing, rate, from_ac43, method, previous, year_rate in rows:
        assert (interest, closing) == credit_year(opening, credited, rate, InterestMethod(method))
        assert credited == from_ac43
        assert rate == year_rate
        if previous is not None:
            assert opening == previous


def test_benefits_consistent(conn: seed_mod.Conn) -> None:
    items: dict[int, dict[str, Decimal]] = {}
    for aac001, item, amount in _rows(conn, "select aac001, item, amount from core.ic61"):
        items.setdefault(aac001, {})[item] = amount
    shares = _rows(conn, "select from_date, to_date, share from core.ya_transition_share")
    benefits = _rows(
        conn,
        "select b.aac001, b.aic162, b.method, b.monthly_total, b.monthly_paid, b.annuity_monthly, p.aic162 "
        "from core.ic60 b join core.ac01 p using (aac001)",
    )
    assert benefits
    assert {b[0] for b in benefits} == {r[0] for r in _rows(conn, "select aac001 from core.ac01 where aac084 = '1'")}
    methods = set()
    for aac001, retire, method, total, paid, annuity, person_retire in benefits:
        methods.add(method)
        got = items[aac001]
        assert retire == person_retire
        assert paid + annuity == total
        assert got["核定养老金"] == total and got["职业年金(税后)"] == annuity
        assert got["职业年金(税前)"] - got["职业年金个税"] == annuity
        new_total = got["基础养老金"] + got["个人账户养老金"] + got["过渡性养老金"] + annuity
        assert got["新办法合计"] == new_total
        if method == "COMPARE":
            assert retire <= date(2024, 9, 30)
            share = transition_share(retire, [(f, t, s) for f, t, s in shares])
            result = compare(new_total, got["原办法"], share)
            assert (result.adjustment, result.approved) == (got["补差"], total)
        else:
            assert method == "NEW" and retire > date(2024, 9, 30) and total == new_total
    assert methods == {"COMPARE", "NEW"}
    payments = _rows(
        conn,
        "select count(*) filter (where g.amount <> b.monthly_paid), min(g.aae003), max(g.aae003) "
        "from core.ic62 g join core.ic60 b using (aac001)",
    )[0]
    assert payments == (0, END_YEAR * 100 + 1, END_YEAR * 100 + 12)


def test_deterministic_and_seed_sensitive(servers: Servers, seeded: Seeded, conn: seed_mod.Conn) -> None:
    again = _seed(servers, "b", rng_seed=RNG_SEED)
    other = _seed(servers, "c", rng_seed=RNG_SEED + 1)
    try:
        with pg.connect(again.url) as c2, pg.connect(other.url) as c3:
            for table, order in (
                ("ac01", "aac001"),
                ("ac43", "detail_id"),
                ("ab01", "aab001"),
                ("ic20", "aac001, aae001, account"),
            ):
                mine = seed_mod.checksum(conn, table, order)
                assert seed_mod.checksum(c2, table, order) == mine, table
                assert seed_mod.checksum(c3, table, order) != mine, table
        assert again.counts == seeded.counts
    finally:
        pg.drop_database(again.url)
        pg.drop_database(other.url)


def test_with_changes_writes_the_change_log(servers: Servers) -> None:
    result = _seed(servers, "d", persons=40, years=1, with_changes=True)
    try:
        assert result.counts["chg_log"] == sum(n for t, n in result.counts.items() if t != "chg_log")
    finally:
        pg.drop_database(result.url)


def test_refuses_a_filled_database(seeded: Seeded) -> None:
    with pytest.raises(seed_mod.SeedError, match="已有数据"):
        seed_mod.seed(seeded.url, persons=10, years=1)
