"""Deterministic, realistic demo data for the reference core database (schema ``core``).

``seed(url, persons=…)`` builds one province (湖南省, 14 统筹区 with real GB/T 2260 codes): the dated
parameters, 经办机构, units, persons, their insurance and employment, the monthly contribution
detail, the yearly individual accounts, retirees' benefits and payments, and social-security
cards. The same ``rng_seed`` gives the same rows, byte for byte.

How it stays fast: people, units and cards are generated in Python (``random.Random(rng_seed)``)
and written with COPY; the contribution detail (ac43, ~19.5 million rows for 100 000 persons over
10 years) and the accounts (ic20) are computed inside PostgreSQL by set-based statements over
helper tables in a scratch schema ``seed_tmp`` (dropped at the end). The ac43 statements run on
two connections in parallel, with ac43's primary key and indexes dropped during the load and
rebuilt afterwards. Benefits (ic60/61/62) are computed for retirees in Python with hub.rules.

The SQL mirrors the rules exactly (tests/core/test_seed.py recomputes samples with hub.rules):
- per-period parameters (rates, bound ratios and reference wage) are looked up in Python through
  ``hub.rules.params.RegionParams`` and handed to SQL, so SQL only does the arithmetic;
- the declared wage of a person and year is ``declared_wage(aac001, wage_factor(rng_seed, aac001),
  year, ONPOST wage of year − 1)``; base = clamp to the bounds; every amount is base × rate rounded
  half up to the fen (PostgreSQL ``round(numeric, 2)`` rounds half away from zero, the same for the
  non-negative amounts here);
- ac43.real_account is the flag of the **unit** share (as ``Contribution.real_account``): false only
  for the 职业年金 rows of 财政全额供款 units (虚账); the personal share is always collected;
- ic20 credits only contributions that arrived (aae078 = '1'): rows in arrears are owed, not yet
  credited. The opening balance of the first generated year carries the (not generated) months
  since the reform 2014-10 with the same formulas and the year's 记账利率.

Retirement ages follow the 2025 reform (DOMAIN.md §1.1 [T]): men 60, women 55 (工勤 posts 50),
delayed by cohort from 2025.

Measured (2 cores, local PostgreSQL 15 with default settings; counts per table in ``MEASURED``):
persons=2 000 years=10: 393 k ac43 rows, 3 s; persons=100 000 years=10: 19.5 M ac43 rows, 91 s;
persons=1 000 000 years=1: 18.9 M ac43 rows, 230 s (about 55 s of it generating people in Python).
"""

from __future__ import annotations

import hashlib
import json
import random
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import cache
from typing import Any, cast
from zoneinfo import ZoneInfo

import psycopg

from core import db
from core import params as params_mod
from core import seed_data as sd
from core.benefits import BenefitInputs, decide
from hub import ids, pg
from hub.rules import retirement
from hub.rules.contributions import base_bounds, clamp_base
from hub.rules.money import to_fen
from hub.rules.params import (
    ANNUITY_AAE140,
    RegionParams,
)
from hub.rules.payout_months import SEED_PAYOUT_MONTHS
from hub.rules.period import Period
from hub.rules.tax import SEED_TAX_BRACKETS, SEED_TAX_BRACKETS_SOURCE, SEED_TAX_BRACKETS_VALID_FROM
from hub.rules.transition import SEED_TRANSITION_SHARES, SEED_TRANSITION_SOURCE

Progress = Callable[[str, int, int], None]
Conn = psycopg.Connection[tuple[Any, ...]]

SHANGHAI = ZoneInfo("Asia/Shanghai")
REFORM_START = date(2014, 10, 1)
REFORM_PERIOD = Period(2014, 10)
BASIC_AAE140 = "120"
PERSON_ID_BASE = 1_000_000_000  # aac001 = base + index + 1
UNIT_ID_BASE = 43_000_000  # aab001 = base + index + 1
BATCH = 20_000  # persons per COPY batch
WORKERS = 2  # parallel connections for the bulk statements

# Row counts per table with the default rng_seed and end_year 2025, and the wall time measured on a
# 2-core machine against a local PostgreSQL 15 with default settings (shared_buffers 128MB,
# max_wal_size 1GB). The parameter tables are the same for every size: aa10 51, ya_region 14,
# ya_wage 588, ya_rate 70, ya_base_bound 28, ya_interest 12, ya_payout_months 31, ya_late_fee 28,
# ya_tax_bracket 14, ya_transition_share 10, ya_param 322, ae10 22; chg_log 0 (with_changes=False).
MEASURED: dict[str, dict[str, int]] = {
    "persons=2000 years=10": {
        "seconds": 3, "ab01": 50, "ac01": 2_000, "ac02": 4_000, "ac20": 2_203, "ac43": 392_798,
        "ic20": 33_444, "ic60": 389, "ic61": 4_580, "ic62": 4_490, "ac50": 1_910,
    },
    "persons=100000 years=10": {
        "seconds": 91, "ab01": 2_500, "ac01": 100_000, "ac02": 200_000, "ac20": 109_779,
        "ac43": 19_473_724, "ic20": 1_657_806, "ic60": 20_224, "ic61": 238_248, "ic62": 232_429,
        "ac50": 94_871,
    },
    "persons=1000000 years=1": {
        "seconds": 230, "ab01": 25_000, "ac01": 1_000_000, "ac02": 2_000_000, "ac20": 1_098_658,
        "ac43": 18_937_788, "ic20": 1_635_556, "ic60": 199_758, "ic61": 2_352_930, "ic62": 2_295_145,
        "ac50": 949_942,
    },
}  # fmt: skip

# Stage names shown by a progress bar (user-facing).
STAGE_PARAMS = "参数"
STAGE_UNITS = "经办机构与单位"
STAGE_PERSONS = "人员、参保与社保卡"
STAGE_AC43 = "缴费明细"
STAGE_INDEX = "索引"
STAGE_IC20 = "个人账户"
STAGE_BENEFIT = "待遇"
STAGE_FINISH = "统计"

TABLES = (
    "aa10", "ya_region", "ya_wage", "ya_rate", "ya_base_bound", "ya_interest", "ya_payout_months",
    "ya_late_fee", "ya_tax_bracket", "ya_transition_share", "ya_param", "ae10", "ab01", "ac01", "ac02",
    "ac20", "ac43", "ic20", "ic60", "ic61", "ic62", "ac50", "chg_log",
)  # fmt: skip


_BULK_TABLES = ("ac43", "ic20")


class SeedError(Exception):
    """The seed cannot run (bad arguments, or the database already holds data)."""


# Deterministic per-person wage --------------------------------------------------------------------


def wage_factor(rng_seed: int, aac001: int) -> int:
    """A person's wage relative to the regional 在岗 average, in per mille (about 0.5–2.1, a few
    up to 3.6 so that both base bounds are exercised). A hash, so tests can recompute it."""
    h = int.from_bytes(hashlib.blake2b(f"{rng_seed}:{aac001}".encode(), digest_size=8).digest(), "big")
    extra = 1500 if (h >> 20) % 40 == 0 else 0
    return 500 + (h & 0x3FF) % 800 + ((h >> 10) & 0x3FF) % 800 + extra


def declared_wage(aac001: int, factor: int, year: int, onpost_prev: Decimal) -> Decimal:
    """The monthly wage a unit declares for ``year``: the person's factor (± a yearly jitter of
    2 %) times the 在岗 average of the year before. Mirrored by the SQL in ``_ac43_sql``."""
    permille = factor + (aac001 * 37 + year * 101) % 41 - 20
    return to_fen(onpost_prev * permille / 1000)


# Retirement age (DOMAIN.md §1.1, 2024 NPC decision, effective 2025-01-01) -------------------------


def retirement_age_months(birth: date, sex: str, position: str) -> int:
    """Statutory retirement age in months (hub.rules.retirement); women in 工勤 posts start from 50."""
    return retirement.age_months(birth, sex, female_original_age=50 if position == sd.WORKER_POSITION else 55)


def retirement_date(birth: date, sex: str, position: str) -> date:
    """离退休日期 (aic162) of a generated person."""
    return retirement.retirement_date(birth, sex, female_original_age=50 if position == sd.WORKER_POSITION else 55)


# Parameters ----------------------------------------------------------------------------------------


def load_region_params(conn: Conn, aaa027: str) -> RegionParams:
    """All dated parameters of one 统筹区 (the core's own loader)."""
    return params_mod.load(conn, aaa027)


def _wage_rows(first_year: int, end_year: int, rng: random.Random) -> list[tuple[Any, ...]]:
    """Synthetic monthly averages: 在岗 (ONPOST) grows by WAGE_GROWTH from the 2014 figure, 全口径
    (ALL) is 80–86 % of it, 计发基数 (BENEFIT) is one province-wide figure."""
    annual: dict[tuple[str, int], Decimal] = {}
    for region in sd.REGIONS:
        value = Decimal(region.onpost_2014)
        annual[region.code, 2014] = value
        for year in range(2015, end_year + 1):
            value = (value * (1 + sd.WAGE_GROWTH.get(year, sd.DEFAULT_WAGE_GROWTH))).quantize(Decimal(1))
            annual[region.code, year] = value
        value = Decimal(region.onpost_2014)
        for year in range(2013, first_year - 1, -1):
            value = (value / (1 + sd.WAGE_GROWTH.get(year + 1, sd.DEFAULT_WAGE_GROWTH))).quantize(Decimal(1))
            annual[region.code, year] = value
    total_weight = sum(r.weight for r in sd.REGIONS)
    rows: list[tuple[Any, ...]] = []
    lo, hi = sd.ALL_TO_ONPOST
    all_share = {r.code: lo + (hi - lo) * Decimal(rng.randrange(101)) / 100 for r in sd.REGIONS}
    for year in range(first_year, end_year + 1):
        published = date(year + 1, 6, 28) if year < end_year else None
        province = sum((annual[r.code, year] * r.weight for r in sd.REGIONS), Decimal(0)) / total_weight
        benefit = (province * sd.BENEFIT_TO_ONPOST).quantize(Decimal(1))
        for region in sd.REGIONS:
            onpost = annual[region.code, year]
            all_kinds = (onpost * all_share[region.code]).quantize(Decimal(1))
            for kind, yearly in (("ONPOST", onpost), ("ALL", all_kinds), ("BENEFIT", benefit)):
                source = f"{sd.SYNTHETIC_SOURCE}: {region.name}{year}年{_WAGE_NAMES[kind]}{yearly}元/年"
                rows.append((region.code, year, kind, to_fen(yearly / 12), published, source))
    return rows


_WAGE_NAMES = {"ONPOST": "在岗职工平均工资", "ALL": "全口径城镇单位就业人员平均工资", "BENEFIT": "养老金计发基数"}


def _insert_params(conn: Conn, first_wage_year: int, end_year: int, rng: random.Random) -> None:
    annuity = sd.PARAMS["ANNUITY_AAE140"][0]
    with conn.cursor() as cur:
        cur.executemany("insert into core.aa10 values (%s, %s, %s)", sd.CODES)
        cur.executemany(
            "insert into core.ya_region values (%s, %s, %s)",
            [(r.code, r.name, sd.PROVINCE_CODE) for r in sd.REGIONS],
        )
        cur.executemany(
            "insert into core.ya_wage values (%s, %s, %s, %s, %s, %s)",
            _wage_rows(first_wage_year, end_year, rng),
        )
        rate_rows = [
            (BASIC_AAE140, "UNIT", 201410, 201904, "0.20", "0", sd.SRC_REFORM),
            (BASIC_AAE140, "UNIT", 201905, None, "0.16", "0", sd.SRC_RATE_CUT),
            (BASIC_AAE140, "PERSON", 201410, None, "0.08", "0.08", sd.SRC_REFORM),
            (annuity, "UNIT", 201410, None, "0.08", "0.08", sd.SRC_ANNUITY),
            (annuity, "PERSON", 201410, None, "0.04", "0.04", sd.SRC_ANNUITY),
        ]
        cur.executemany(
            "insert into core.ya_rate (aaa027, aae140, payer, from_period, to_period, rate, account_rate, "
            "source) values (%s, %s, %s, %s, %s, %s, %s, %s)",
            [(r.code, *row) for r in sd.REGIONS for row in rate_rows],
        )
        cur.executemany(
            "insert into core.ya_base_bound values (%s, %s, %s, %s, %s, %s, %s)",
            [
                row
                for r in sd.REGIONS
                for row in (
                    (r.code, 201410, 201812, "0.6", "3.0", "ONPOST", sd.SRC_BOUNDS),
                    (r.code, 201901, None, "0.6", "3.0", "ALL", sd.SRC_BOUNDS_2019),
                )
            ],
        )
        interest = dict(sd.INTEREST_RATES)
        for year in range(max(interest) + 1, end_year + 1):
            interest[year] = (interest[year - 1][0], sd.LATER_INTEREST_SOURCE)
        cur.executemany(
            "insert into core.ya_interest values (%s, %s, %s, %s)",
            [
                (year, rate, source, date(year + 1, 6, 30) if not source.startswith("待核实") else None)
                for year, (rate, source) in sorted(interest.items())
            ],
        )
        cur.executemany("insert into core.ya_payout_months values (%s, %s)", sorted(SEED_PAYOUT_MONTHS.items()))
        cur.executemany(
            "insert into core.ya_late_fee values (%s, %s, %s, %s)",
            [
                row
                for r in sd.REGIONS
                for row in (
                    (r.code, date(1999, 1, 22), "0.002", sd.SRC_LATE_LEGACY),
                    (r.code, date(2011, 7, 1), "0.0005", sd.SRC_LATE),
                )
            ],
        )
        cur.executemany(
            "insert into core.ya_tax_bracket values (%s, %s, %s, %s, %s, %s)",
            [
                (date(*sd.TAX_BRACKETS_2011_VALID_FROM), lo, hi, rate, qd, sd.TAX_BRACKETS_2011_SOURCE)
                for lo, hi, rate, qd in sd.TAX_BRACKETS_2011
            ]
            + [
                (SEED_TAX_BRACKETS_VALID_FROM, b.lower, b.upper, b.rate, b.quick_deduction, SEED_TAX_BRACKETS_SOURCE)
                for b in SEED_TAX_BRACKETS
            ],
        )
        cur.executemany(
            "insert into core.ya_transition_share values (%s, %s, %s, %s)",
            [(f, t, s, SEED_TRANSITION_SOURCE) for f, t, s in SEED_TRANSITION_SHARES],
        )
        cur.executemany(
            "insert into core.ya_param values (%s, %s, %s, %s, %s)",
            [
                (r.code, code, REFORM_START, value, f"{source}; {sd.SRC_PARAM}")
                for r in sd.REGIONS
                for code, (value, source) in sd.PARAMS.items()
            ]
            + [
                (r.code, f"DEEMED_INDEX_{position}", REFORM_START, str(index), sd.SRC_DEEMED_INDEX)
                for r in sd.REGIONS
                for position, index in {**sd.DEEMED_INDEX, "DEFAULT": Decimal("1.0000")}.items()
            ],
        )


# Places: counties known to stdnum's GB/T 2260 table ----------------------------------------------


@dataclass(frozen=True, slots=True)
class County:
    code: str
    name: str  # current name ('' when the code no longer exists)
    ranges: tuple[tuple[int | None, int | None], ...]  # (start, end) years; (None, None) = always

    def valid_in(self, year: int) -> bool:
        return any((s is None or s <= year) and (e is None or year <= e) for s, e in self.ranges)


@cache
def _counties(prefix: str) -> tuple[County, ...]:
    """County-level codes under a 4-digit prefix, with the years stdnum's table accepts them
    (the same bracket rules as ``stdnum.cn.ric.get_birth_place``)."""
    from stdnum import numdb

    table = numdb.get("cn/loc")
    found: list[County] = []
    for suffix in range(2, 100):
        code = f"{prefix}{suffix:02d}"
        info: dict[str, str] = {}
        for _, props in table.info(code):
            info.update(props)
        text = info.get("county")
        if not text:
            continue
        ranges: list[tuple[int | None, int | None]] = []
        name = ""
        for part in text.split(","):
            if not part.startswith("["):
                ranges.append((None, None))
                name = part
                continue
            span, label = part[1:].split("]")
            start, end = span.split("-")
            ranges.append((int(start) if start else None, int(end) if end else None))
            if not end:
                name = label
        if name in ("市辖区", "市区", "郊区"):
            name = ""
        found.append(County(code, name, tuple(ranges)))
    return tuple(found)


@dataclass(slots=True)
class Places:
    """Per region: current counties (for unit names and addresses) and the codes valid for ID
    numbers of a birth year."""

    current: dict[str, list[County]] = field(default_factory=dict)
    all_codes: dict[str, list[County]] = field(default_factory=dict)
    _by_year: dict[tuple[str, int], list[str]] = field(default_factory=dict)

    def id_codes(self, region: str, year: int) -> list[str]:
        key = (region, year)
        codes = self._by_year.get(key)
        if codes is None:
            codes = [c.code for c in self.all_codes[region] if c.valid_in(year)]
            self._by_year[key] = codes
        return codes


def _places(end_year: int) -> Places:
    places = Places()
    for region in sd.REGIONS:
        every = [c for p in region.id_prefixes for c in _counties(p)]
        places.all_codes[region.code] = every
        places.current[region.code] = [
            c for c in _counties(region.code[:4]) if c.name and c.valid_in(min(end_year, 2024))
        ]
    return places


# Python-side generation ---------------------------------------------------------------------------


@dataclass(slots=True)
class Agency:
    aaz001: int
    region: str


@dataclass(slots=True)
class Unit:
    aab001: int
    family: str  # first digit of aab019: '3' 机关, '5' 事业
    region: str
    place_code: str
    funding: str
    agency: int
    weight: float
    arrears_from: int | None  # absolute month index from which contributions are unpaid
    pay_day: int


@dataclass(slots=True)
class Retiree:
    aac001: int
    pidx: int
    region: str
    sex: str
    birth: date
    work_start: date
    retire: date
    position: str
    factor: int
    deemed_months: int
    first_m: int
    last_m: int  # last contribution month (absolute index); < first_m when none


def _mi(p: Period) -> int:
    """Absolute month index (year × 12 + month − 1): SQL does integer arithmetic on it."""
    return p.year * 12 + p.month - 1


def _period(mi: int) -> Period:
    return Period(mi // 12, mi % 12 + 1)


def _weighted(rng: random.Random, pairs: tuple[tuple[str, int], ...]) -> str:
    values, cum = _cumulative(pairs)
    return rng.choices(values, cum_weights=cum)[0]


@cache
def _cumulative(pairs: tuple[tuple[str, int], ...]) -> tuple[list[str], list[int]]:
    values = [p for p, _ in pairs]
    cum: list[int] = []
    total = 0
    for _, weight in pairs:
        total += weight
        cum.append(total)
    return values, cum


def _phone(rng: random.Random) -> str:
    prefix = rng.choice(_MOBILE_PREFIXES)
    return f"{prefix}{rng.randrange(100_000_000):08d}"


_MOBILE_PREFIXES = (
    "130", "131", "132", "133", "134", "135", "136", "137", "138", "139", "150", "151", "152", "153",
    "155", "156", "157", "158", "159", "166", "173", "175", "176", "177", "178", "180", "181", "182",
    "183", "184", "185", "186", "187", "188", "189", "191", "198", "199",
)  # fmt: skip


class _Names:
    def __init__(self) -> None:
        self.surnames = [s for s, _ in sd.SURNAMES]
        cum = 0
        self.cum: list[int] = []
        for _, w in sd.SURNAMES:
            cum += w
            self.cum.append(cum)
        self.male = sd.GIVEN_MALE + sd.GIVEN_NEUTRAL
        self.female = sd.GIVEN_FEMALE + sd.GIVEN_NEUTRAL

    def make(self, rng: random.Random, sex: str) -> str:
        surname = rng.choices(self.surnames, cum_weights=self.cum)[0]
        pool = self.male if sex == "1" else self.female
        if rng.random() < 0.72:
            return surname + rng.choice(pool) + rng.choice(pool)
        return surname + rng.choice(pool)


def _town(rng: random.Random) -> str:
    return rng.choice(sd.TOWN_FIRST) + rng.choice(sd.TOWN_SECOND) + rng.choice(sd.TOWN_SUFFIXES)


def _place_name(region: sd.RegionSpec, county: County | None) -> str:
    if county is None:
        return region.name
    if county.name.endswith("区"):
        return region.name + county.name
    return county.name


def _address(rng: random.Random, region: sd.RegionSpec, county: County | None) -> str:
    district = county.name if county is not None else ""
    return f"{sd.PROVINCE_NAME}{region.name}{district}{rng.choice(sd.ROADS)}{rng.randrange(1, 400)}号"


def _landline(rng: random.Random, region: sd.RegionSpec) -> str:
    return f"{region.area_code}-{rng.choice('2345678')}{rng.randrange(10_000_000):07d}"


_HOURS = ["09:00-12:00", "13:30-17:00"]


def _opening_hours(saturday: bool) -> str:
    week = {day: list(_HOURS) for day in ("mon", "tue", "wed", "thu", "fri")}
    week["sat"] = ["09:00-12:00"] if saturday else []
    week["sun"] = []
    return json.dumps(week, ensure_ascii=False)


def _copy(conn: Conn, table: str, columns: str, rows: Iterable[Sequence[Any]]) -> int:
    n = 0
    with conn.cursor() as cur, cur.copy(f"copy {table} ({columns}) from stdin") as cp:
        for row in rows:
            cp.write_row(row)
            n += 1
    return n


def _make_agencies_units(
    conn: Conn, rng: random.Random, places: Places, n_units: int, window: tuple[int, int]
) -> tuple[list[Unit], dict[str, list[int]]]:
    agencies: list[tuple[Any, ...]] = []
    by_region: dict[str, list[int]] = {}
    regions = {r.code: r for r in sd.REGIONS}
    for region in sd.REGIONS:
        counties = places.current[region.code]
        ids_here: list[int] = []
        for n in range(2 if region.weight >= 60 else 1):
            aaz001 = int(region.code) * 100 + n + 1
            county = None if n == 0 else rng.choice(counties)
            name = f"{_place_name(region, county)}社会保险服务中心"
            lon = region.longitude + Decimal(rng.randrange(-400, 401)) / 10_000
            lat = region.latitude + Decimal(rng.randrange(-400, 401)) / 10_000
            agencies.append(
                (aaz001, name, region.code, _address(rng, region, county), _landline(rng, region),
                 lon, lat, _opening_hours(saturday=n == 0))
            )  # fmt: skip
            ids_here.append(aaz001)
        by_region[region.code] = ids_here
    _copy(conn, "core.ae10", "aaz001, aae044, aaa027, address, phone, longitude, latitude, opening_hours", agencies)

    names = _Names()
    used: set[str] = set()
    units: list[Unit] = []
    rows: list[tuple[Any, ...]] = []
    region_codes = [r.code for r in sd.REGIONS]
    region_weights = [r.weight for r in sd.REGIONS]
    kinds = sd.UNIT_KINDS
    win_start, win_end = window
    for j in range(n_units):
        region = regions[rng.choices(region_codes, weights=region_weights)[0]]
        aab019, dept, _, funding_w, templates = rng.choices(kinds, weights=[k[2] for k in kinds])[0]
        name = ""
        county = None
        for attempt in range(40):
            county = None if rng.random() < 0.3 else rng.choice(places.current[region.code])
            template = rng.choice(templates)
            if attempt >= 20 and "{t}" not in template:
                template = "{P}{t}" + rng.choice(("中心学校", "卫生院", "农业综合服务中心", "便民服务中心"))
            name = template.format(P=_place_name(region, county), n=rng.choice(sd.ORDINALS), t=_town(rng))
            if name not in used:
                break
        else:
            name = f"{name}（{j + 1}）"
        used.add(name)
        funding = rng.choices(("1", "2", "3"), weights=funding_w)[0]
        aab001 = UNIT_ID_BASE + j + 1
        place_code = county.code if county is not None else region.code
        agency = by_region[region.code][0 if rng.random() < 0.7 else -1]
        size = rng.lognormvariate(0, 0.8) * (4 if aab019 == "52" else 2 if aab019 == "51" else 1)
        arrears = None
        if rng.random() < 0.03 or j == n_units // 2:  # ~3 %, and always at least one
            arrears = max(win_start, win_end - rng.randrange(6))
        unit = Unit(aab001, aab019[0], region.code, place_code, funding, agency, size, arrears, rng.randrange(1, 16))
        units.append(unit)
        bank = rng.choice(sd.BANKS)
        branch = (county.name if county is not None and county.name else region.name.removesuffix("市")) + "支行"
        created = datetime(2014, 10, 1, 9, tzinfo=SHANGHAI) + timedelta(
            days=rng.randrange(270), minutes=rng.randrange(480)
        )
        rows.append((
            aab001, ids.make_uscc(dept, place_code, 10_000_000 + j * 7 + 3), name, aab019, funding,
            "1" if rng.random() < 0.1 else "2", agency, region.code, "1", names.make(rng, rng.choice("12")),
            _phone(rng) if rng.random() < 0.6 else _landline(rng, region), _address(rng, region, county),
            f"{bank}{branch}", f"{rng.randrange(10**18, 10**19)}", created,
        ))  # fmt: skip
    _copy(
        conn,
        "core.ab01",
        "aab001, uscc, aab004, aab019, funding, collection, aab034, aaa027, aab051, contact_name, "
        "contact_phone, address, bank_name, bank_account, created_at",
        rows,
    )
    return units, by_region


@dataclass(slots=True)
class _Batch:
    ac01: list[tuple[Any, ...]] = field(default_factory=list)
    ac02: list[tuple[Any, ...]] = field(default_factory=list)
    ac20: list[tuple[Any, ...]] = field(default_factory=list)
    ac50: list[tuple[Any, ...]] = field(default_factory=list)
    spell: list[tuple[Any, ...]] = field(default_factory=list)
    person: list[tuple[Any, ...]] = field(default_factory=list)


_RARE_AT = (3, 17, 41, 97, 151, 263, 389)
_JUNIOR = {"正科": "副科", "副处": "科员", "正处": "副科", "专技副高": "专技中级", "专技正高": "专技中级"}


class _People:
    """Generates persons one by one from the shared random stream."""

    def __init__(
        self,
        rng: random.Random,
        rng_seed: int,
        places: Places,
        units: list[Unit],
        end_year: int,
        window: tuple[int, int],
        annuity: str,
    ) -> None:
        self.rng = rng
        self.rng_seed = rng_seed
        self.places = places
        self.units = units
        self.end_year = end_year
        self.win_start, self.win_end = window
        self.annuity = annuity
        self.names = _Names()
        self.end_period = Period(end_year, 12)
        self.end_date = date(end_year, 12, 31)
        self.units_by_region: dict[str, list[Unit]] = {}
        for u in units:
            self.units_by_region.setdefault(u.region, []).append(u)
        self.id_seq: dict[tuple[str, date], int] = {}
        self.province_regions = [r.code for r in sd.REGIONS]
        self.retirees: list[Retiree] = []
        self.aaz157 = 0
        self.reform_mi = _mi(REFORM_PERIOD)

    def _id_number(self, region: str, birth: date, sex: str) -> str:
        rng = self.rng
        if rng.random() < 0.15:
            region = rng.choice(self.province_regions)
        codes = self.places.id_codes(region, birth.year)
        if not codes:
            codes = [c for r in self.province_regions for c in self.places.id_codes(r, birth.year)]
        for _ in range(20):
            code = rng.choice(codes)
            seq = self.id_seq.get((code, birth), 0)
            if seq <= ids.MAX_ID_SEQ:
                self.id_seq[code, birth] = seq + 1
                return ids.make_id_number(code, birth, seq, sex, check=False)
        raise SeedError("公民身份号码顺序码已用尽")  # pragma: no cover - needs ~500 people per day and place

    def _birth_active(self, sex: str, position: str) -> date:
        rng = self.rng
        max_age = (60 if sex == "1" else 50 if position == sd.WORKER_POSITION else 55) - 1
        while True:
            age = 22 + int(rng.triangular(0, max_age - 22 + 1, 14))
            birth = date(self.end_year - age, 1, 1) + timedelta(days=rng.randrange(365))
            if birth.year != self.end_year - age:
                continue
            if Period.of(retirement_date(birth, sex, position)) > self.end_period:
                return birth

    def _birth_retired(self, sex: str, position: str) -> tuple[date, date]:
        rng = self.rng
        first = _mi(REFORM_PERIOD)
        last = _mi(self.end_period)
        while True:
            target = rng.randrange(first, last + 1)
            base = (60 if sex == "1" else 50 if position == sd.WORKER_POSITION else 55) * 12
            bmi = target - base
            birth = _period(bmi).first_day
            for _ in range(6):
                actual = _mi(Period.of(birth)) + retirement_age_months(birth, sex, position)
                if actual == target:
                    break
                birth = _period(_mi(Period.of(birth)) - (actual - target)).first_day
            birth = birth.replace(day=rng.randrange(1, 29))
            retire = retirement_date(birth, sex, position)
            if first <= _mi(Period.of(retire)) <= last:
                return birth, retire

    def person(self, i: int, unit: Unit, batch: _Batch) -> None:
        rng = self.rng
        aac001 = PERSON_ID_BASE + i + 1
        sex = "1" if rng.random() < 0.5 else "2"
        name = ""
        if i % 50_000 in _RARE_AT:
            name, sex = sd.RARE_NAMES[_RARE_AT.index(i % 50_000) % len(sd.RARE_NAMES)]
        position = _weighted(rng, sd.POSITIONS_GOV if unit.family == "3" else sd.POSITIONS_INST)
        r = rng.random()
        status = "retired" if r < 0.20 else "left" if r < 0.22 else "suspended" if r < 0.23 else "active"
        retire: date | None = None
        if status == "retired":
            birth, retire = self._birth_retired(sex, position)
        else:
            birth = self._birth_active(sex, position)
        if not name:
            name = self.names.make(rng, sex)
        young = (retire or self.end_date).year - birth.year < 32
        if young:
            # Senior posts need years of service; the 工勤 post (and so the retirement age) stays.
            position = _JUNIOR.get(position, position)
        # Work start: after college mostly, never before 18 nor after the end of the data.
        start_age = int(rng.triangular(18, 27, 22))
        try:
            work = birth.replace(year=birth.year + start_age)
        except ValueError:  # 29 February
            work = birth.replace(year=birth.year + start_age, day=28)
        work += timedelta(days=rng.randrange(200))
        work = min(work, date(self.end_year, 12, 1))
        if retire is not None and work >= retire - timedelta(days=400):
            work = retire - timedelta(days=400)
        work_mi = _mi(Period.of(work))
        first_m = max(self.reform_mi, work_mi)
        if retire is not None:
            last_m = _mi(Period.of(retire)) - 1
        elif status == "active":
            last_m = self.win_end
        else:
            lo = max(first_m, self.win_start)
            last_m = rng.randrange(lo, self.win_end) if lo < self.win_end else self.win_end - 1
        deemed = max(0, self.reform_mi - work_mi)
        factor = wage_factor(self.rng_seed, aac001)
        id_number = self._id_number(unit.region, birth, sex)
        phone = None if rng.random() < 0.03 else _phone(rng)
        nation = _weighted(rng, sd.NATIONALITIES)
        batch.ac01.append((
            aac001, "01", id_number, name, sex, nation, birth, work, phone, unit.region,
            "1" if retire else "0", retire, position,
        ))  # fmt: skip

        # Employment spells: most people stay in one unit, ~10 % moved once inside the region.
        spells: list[tuple[Unit, date, date | None, int, int]] = []  # unit, start, end, from_m, pay_to_m
        end_m = _mi(Period.of(retire)) - 1 if retire is not None else last_m
        peers = self.units_by_region[unit.region]
        if rng.random() < 0.10 and len(peers) > 1 and end_m - work_mi >= 24:
            switch = rng.randrange(work_mi + 12, end_m)
            other = unit
            while other is unit:
                other = rng.choice(peers)
            spells.append((unit, work, _period(switch - 1).last_day, work_mi, switch - 1))
            spells.append((other, _period(switch).first_day, None, switch, last_m))
        else:
            spells.append((unit, work, None, work_mi, last_m))
        last_unit, last_start, _, _, _ = spells[-1]
        if retire is not None:
            final_end: date | None = retire - timedelta(days=1)
        elif status == "left":
            final_end = _period(last_m).last_day
        else:
            final_end = None  # active, or suspended (still employed, not paying)
        spells[-1] = (last_unit, last_start, final_end, spells[-1][3], spells[-1][4])
        for u, start, end, from_m, pay_to in spells:
            self.aaz157 += 1
            batch.ac20.append((self.aaz157, aac001, u.aab001, start, end))
            batch.spell.append((
                i, aac001, u.aab001, u.region, from_m, pay_to, u.funding, u.arrears_from, u.pay_day, factor,
            ))  # fmt: skip
        batch.person.append((aac001, i, unit.region, factor, first_m, last_m))

        aac008, aac031 = {"retired": ("1", "3"), "left": ("4", "3"), "suspended": ("2", "2")}.get(status, ("1", "1"))
        first_insured = int(_period(first_m))
        for aae140, deemed_months in ((BASIC_AAE140, deemed), (self.annuity, 0)):
            batch.ac02.append((
                aac001, aae140, last_unit.aab001, aac008, last_start, aac031, first_insured, deemed_months,
            ))  # fmt: skip

        if rng.random() < 0.95:
            issued = max(date(2012, 1, 1), birth + timedelta(days=16 * 366))
            span = (self.end_date - issued).days
            issued += timedelta(days=rng.randrange(max(1, span)))
            r = rng.random()
            card_status = "2" if r < 0.015 else "3" if r < 0.02 else "1"
            card_no = f"{(i * 387_420_489 + self.rng_seed) % 1_000_000_000:09d}"
            digest = hashlib.blake2b(f"card:{self.rng_seed}:{aac001}".encode(), digest_size=8).hexdigest()
            batch.ac50.append((
                aac001, card_no, f"{unit.region}{sd.CARD_ID_INFIX}{digest.upper()}", card_status,
                rng.choice(sd.CARD_BANKS), issued,
            ))  # fmt: skip

        if retire is not None:
            self.retirees.append(
                Retiree(aac001, i, unit.region, sex, birth, work, retire, position, factor, deemed, first_m, last_m)
            )


def _write_batch(conn: Conn, batch: _Batch) -> None:
    _copy(
        conn,
        "core.ac01",
        "aac001, aac058, aac002, aac003, aac004, aac005, aac006, aac007, aac067, aaa027, aac084, aic162, "
        "position_level",
        batch.ac01,
    )
    _copy(conn, "core.ac02", "aac001, aae140, aab001, aac008, aac030, aac031, aac049, deemed_months", batch.ac02)
    _copy(conn, "core.ac20", "aaz157, aac001, aab001, start_date, end_date", batch.ac20)
    _copy(conn, "core.ac50", "aac001, aaz500, identify_code, status, bank, issued_on", batch.ac50)
    _copy(
        conn,
        "seed_tmp.spell",
        "pidx, aac001, aab001, aaa027, from_m, to_m, funding, arrears_from_m, pay_day, factor",
        batch.spell,
    )
    _copy(conn, "seed_tmp.person", "aac001, pidx, aaa027, factor, first_m, last_m", batch.person)


# Set-based SQL -------------------------------------------------------------------------------------

_TMP_DDL = """
drop schema if exists seed_tmp cascade;
create schema seed_tmp;
create unlogged table seed_tmp.spell (
    pidx integer not null, aac001 bigint not null, aab001 bigint not null, aaa027 varchar(6) not null,
    from_m integer not null, to_m integer not null, funding varchar(1) not null, arrears_from_m integer,
    pay_day integer not null, factor integer not null);
create unlogged table seed_tmp.person (
    aac001 bigint not null, pidx integer not null, aaa027 varchar(6) not null, factor integer not null,
    first_m integer not null, last_m integer not null);
-- One row per region, month and 险种 (k 0 basic, 1 annuity): everything the rule looks up.
create unlogged table seed_tmp.pparam (
    aaa027 varchar(6) not null, m integer not null, aae003 integer not null, y integer not null,
    k integer not null, aae140 varchar(3) not null, first_day date not null,
    onpost_prev numeric(12, 2) not null, lower_b numeric(14, 2) not null, upper_b numeric(14, 2) not null,
    unit_rate numeric(7, 4) not null, person_rate numeric(7, 4) not null,
    person_credit numeric(7, 4) not null, unit_credit numeric(7, 4) not null, is_annuity boolean not null,
    primary key (aaa027, m, k));
-- Per region, year and 险种: the same values, constant within a year (checked when built).
create unlogged table seed_tmp.yparam (
    aaa027 varchar(6) not null, y integer not null, k integer not null,
    onpost_prev numeric(12, 2) not null, lower_b numeric(14, 2) not null, upper_b numeric(14, 2) not null,
    person_credit numeric(7, 4) not null, unit_credit numeric(7, 4) not null,
    rate numeric(7, 4) not null, method text not null,
    primary key (aaa027, y, k));
"""


def _wage_sql(p: str, s: str) -> str:
    """SQL of ``declared_wage`` (the 缴费工资 before clamping); ``p`` a pparam/yparam alias, ``s`` a row
    with aac001 and factor."""
    return f"round({p}.onpost_prev * ({s}.factor + ({s}.aac001 * 37 + {p}.y * 101) % 41 - 20) / 1000, 2)"


def _declared_sql(p: str, s: str) -> str:
    """The declared wage clamped to the bounds: the 缴费基数."""
    return f"least(greatest({_wage_sql(p, s)}, {p}.lower_b), {p}.upper_b)"


def _ac43_sql(lo: int, hi: int, win_start: int, win_end: int) -> str:
    stride = (win_end - win_start + 1) * 2
    return f"""
insert into core.ac43 (detail_id, aac001, aab001, aae140, aae003, aaa115, aac040, aae180, aae020, aae022,
                       to_account, real_account, aae078, paid_on)
select s.pidx::bigint * {stride} + (g.m - {win_start}) * 2 + p.k + 1,
       s.aac001, s.aab001, p.aae140, p.aae003, '10', {_wage_sql("p", "s")},
       b.base, round(b.base * p.unit_rate, 2), round(b.base * p.person_rate, 2),
       round(b.base * p.person_credit, 2) + round(b.base * p.unit_credit, 2),
       not (p.is_annuity and s.funding = '1'),
       case when g.m >= s.arrears_from_m then '0' else '1' end,
       case when g.m >= s.arrears_from_m then null else p.first_day + (s.pay_day - 1) end
from seed_tmp.spell s
cross join lateral generate_series(greatest(s.from_m, {win_start}), least(s.to_m, {win_end})) as g(m)
join seed_tmp.pparam p on p.aaa027 = s.aaa027 and p.m = g.m
cross join lateral (select {_declared_sql("p", "s")} as base) b
where s.pidx >= {lo} and s.pidx < {hi}
"""


def _closing_sql(opening: str, credited: str) -> str:
    """``credit_year`` in SQL: only the closing balance is rounded (hub.rules.interest)."""
    return (
        f"round(case when y.method = 'ANNUAL_1083' "
        f"then {opening} * (1 + y.rate) + {credited} * (1 + y.rate * 1.083 / 2) "
        f"else {opening} * (1 + y.rate) + {credited} end, 2)"
    )


def _build_param_tables(conn: Conn, params: dict[str, RegionParams], first_m: int, last_m: int) -> None:
    pparam: list[tuple[Any, ...]] = []
    yparam: dict[tuple[str, int, int], tuple[Any, ...]] = {}
    for region, rp in params.items():
        for m in range(first_m, last_m + 1):
            period = _period(m)
            annuity = rp.param(ANNUITY_AAE140, period.first_day)
            lower_ratio, upper_ratio, _ = rp.bounds(period)
            lower, upper = base_bounds(rp.bound_wage(period), lower_ratio, upper_ratio)
            onpost_prev = rp.wage(period.year - 1, "ONPOST")
            for k, aae140 in enumerate((BASIC_AAE140, annuity)):
                rates = rp.rates(aae140, period)
                # As hub.rules.contributions.contribution: credit the personal share first.
                person_credit = min(rates.account, rates.person)
                unit_credit = rates.account - person_credit
                pparam.append((
                    region, m, int(period), period.year, k, aae140, period.first_day, onpost_prev, lower, upper,
                    rates.unit, rates.person, person_credit, unit_credit, k == 1,
                ))  # fmt: skip
                values = (onpost_prev, lower, upper, person_credit, unit_credit)
                key = (region, period.year, k)
                if key in yparam and yparam[key][3:8] != values:
                    # The carried-in balance assumes a constant monthly credit within a year.
                    raise SeedError(f"统筹区 {region} {period.year} 年内缴费基数或划账比例发生变化，无法推算期初余额")
                method = rp.param("INTEREST_METHOD", date(period.year, 12, 31))
                yparam[key] = (region, period.year, k, *values, rp.interest(period.year), method)
    _copy(
        conn,
        "seed_tmp.pparam",
        "aaa027, m, aae003, y, k, aae140, first_day, onpost_prev, lower_b, upper_b, unit_rate, person_rate, "
        "person_credit, unit_credit, is_annuity",
        pparam,
    )
    _copy(
        conn,
        "seed_tmp.yparam",
        "aaa027, y, k, onpost_prev, lower_b, upper_b, person_credit, unit_credit, rate, method",
        yparam.values(),
    )
    conn.execute("analyze seed_tmp.pparam; analyze seed_tmp.yparam")


def _session(conn: Conn, with_changes: bool) -> None:
    conn.execute("set synchronous_commit = off")
    conn.execute("set work_mem = '256MB'")
    conn.execute("set maintenance_work_mem = '512MB'")
    if not with_changes:
        # Skips the change-capture and FK triggers during the bulk load; the seed is consistent by
        # construction and the change log of a fresh database need not replay its creation.
        conn.execute("set session_replication_role = replica")
    conn.commit()


def _parallel(url: str, statements: Sequence[str], with_changes: bool, done: Callable[[], None]) -> None:
    """Run independent statements on WORKERS connections, each in its own transaction."""
    local = threading.local()
    conns: list[Conn] = []
    lock = threading.Lock()

    def run(statement: str) -> None:
        conn: Conn | None = getattr(local, "conn", None)
        if conn is None:
            conn = pg.connect(url)
            _session(conn, with_changes)
            local.conn = conn
            with lock:
                conns.append(conn)
        conn.execute(statement)
        conn.commit()

    try:
        with ThreadPoolExecutor(max_workers=WORKERS) as pool:
            for future in [pool.submit(run, s) for s in statements]:
                future.result()
                done()
    finally:
        for conn in conns:
            conn.close()


# Benefits -------------------------------------------------------------------------------------------


def _benefits(
    conn: Conn,
    retirees: list[Retiree],
    params: dict[str, RegionParams],
    end_year: int,
    rng: random.Random,
    progress: Progress,
) -> None:
    balances: dict[tuple[int, str], Decimal] = {}
    with conn.cursor() as cur:
        cur.execute(
            "select a.aac001, (a.k + 1)::text, a.balance from seed_tmp.acct a "
            "join core.ac01 p on p.aac001 = a.aac001 and p.aac084 = '1'"
        )
        for aac001, account, balance in cur:
            balances[aac001, account] = balance
    ic60: list[tuple[Any, ...]] = []
    ic61: list[tuple[Any, ...]] = []
    ic62: list[tuple[Any, ...]] = []
    end_period = Period(end_year, 12)
    pay_from = Period(end_year, 1)
    total = len(retirees)
    for n, r in enumerate(retirees):
        rp = params[r.region]
        retire_period = Period.of(r.retire)
        # 平均缴费指数 over the months since the reform, base / bound wage of the month.
        weighted = Decimal(0)
        months = 0
        years = range(r.first_m // 12, r.last_m // 12 + 1) if r.last_m >= r.first_m else range(0)
        for year in years:
            lo = max(r.first_m, year * 12)
            hi = min(r.last_m, year * 12 + 11)
            period = _period(lo)
            lower, upper, _ = rp.bounds(period)
            wage = rp.bound_wage(period)
            base = clamp_base(declared_wage(r.aac001, r.factor, year, rp.wage(year - 1, "ONPOST")), wage, lower, upper)
            weighted += base / wage * (hi - lo + 1)
            months += hi - lo + 1
        age = retirement_age_months(r.birth, r.sex, r.position)
        old: Decimal | None = None
        table = rp.transition_table
        if table and r.retire <= max(row[1] for row in table):
            # Old method (退休费 of the 2006 pay system): a share of the final wage by service years.
            service = (r.retire - r.work_start).days // 365
            share_of_wage = min(Decimal("0.90"), Decimal("0.40") + Decimal(service) * Decimal("0.009"))
            share_of_wage += Decimal(rng.randrange(-8, 9)) / 100
            final = declared_wage(r.aac001, r.factor, r.retire.year, rp.wage(r.retire.year - 1, "ONPOST"))
            old = to_fen(final * share_of_wage)
        decision = decide(
            rp,
            BenefitInputs(
                retire_date=r.retire,
                age_months=age,
                average_index=(weighted / months).quantize(Decimal("0.0001"))
                if months
                else sd.DEEMED_INDEX[r.position],
                paid_months=months,
                deemed_months=r.deemed_months,
                deemed_index=Decimal(rp.param(f"DEEMED_INDEX_{r.position}", r.retire)),
                account_balance=balances.get((r.aac001, "1"), to_fen(Decimal(0))),
                annuity_balance=balances.get((r.aac001, "2"), to_fen(Decimal(0))),
                old_method_amount=old,
            ),
        )
        approved, method, paid = decision.approved, decision.method, decision.paid_by_agency
        benefit = decision.benefit
        items = list(decision.items)
        approved_on = r.retire - timedelta(days=rng.randrange(5, 26))
        ic60.append((r.aac001, r.retire, method, approved, paid, benefit.annuity_after_tax, approved_on))
        ic61.extend((r.aac001, item, amount) for item, amount in items)
        for period in Period.range(max(pay_from, retire_period), end_period):
            ic62.append((r.aac001, int(period), paid, date(period.year, period.month, 5)))
        if n % 10_000 == 0:
            progress(STAGE_BENEFIT, n, total)
    _copy(conn, "core.ic60", "aac001, aic162, method, monthly_total, monthly_paid, annuity_monthly, approved_on", ic60)
    _copy(conn, "core.ic61", "aac001, item, amount", ic61)
    _copy(conn, "core.ic62", "aac001, aae003, amount, paid_on", ic62)
    progress(STAGE_BENEFIT, total, total)


# Entry point ---------------------------------------------------------------------------------------


def _noop(stage: str, done: int, total: int) -> None:
    return None


def seed(
    url: str,
    *,
    persons: int,
    units: int | None = None,
    years: int = 10,
    end_year: int = 2025,
    rng_seed: int = 20261127,
    with_changes: bool = False,
    progress: Progress | None = None,
) -> dict[str, int]:
    """Fill an empty core database with a deterministic province; returns row counts per table.

    Creates the database and schema when missing (``core.db.init``); refuses a database that
    already holds data (reset it first). Contributions cover the ``years`` calendar years ending
    December ``end_year``. ``with_changes`` lets the change-capture triggers fire (small sizes
    only); otherwise chg_log stays empty.

    Raises ``SeedError`` for bad arguments or a non-empty database.
    """
    report = progress or _noop
    if persons < 1:
        raise SeedError("人数至少为1")
    if years < 1:
        raise SeedError("年数至少为1")
    first_year = end_year - years + 1
    if first_year < REFORM_START.year or end_year > 2100:
        raise SeedError(f"缴费年度不能早于{REFORM_START.year}年（改革起始年）: {first_year}–{end_year}")
    n_units = units if units is not None else max(3, persons // 40)
    if n_units < 1:
        raise SeedError("单位数至少为1")

    db.init(url)
    rng = random.Random(rng_seed)
    win_start = _mi(Period(max(first_year, 2014), 1))
    win_start = max(win_start, _mi(REFORM_PERIOD))
    win_end = _mi(Period(end_year, 12))

    with pg.connect(url) as conn:
        filled = conn.execute("select exists (select 1 from core.ya_region) or exists (select 1 from core.ac01)")
        if filled.fetchone() != (False,):
            raise SeedError("核心库中已有数据，请先重建数据库后再生成演示数据")
        _session(conn, with_changes)
        conn.execute(_TMP_DDL)

        # Parameters.
        report(STAGE_PARAMS, 0, 1)
        _insert_params(conn, min(2012, first_year - 2), end_year, rng)
        params = {r.code: load_region_params(conn, r.code) for r in sd.REGIONS}
        _build_param_tables(conn, params, _mi(REFORM_PERIOD), win_end)
        conn.commit()
        report(STAGE_PARAMS, 1, 1)

        # Agencies and units.
        report(STAGE_UNITS, 0, 1)
        places = _places(end_year)
        unit_list, _ = _make_agencies_units(conn, rng, places, n_units, (win_start, win_end))
        conn.commit()
        report(STAGE_UNITS, 1, 1)

        # Persons, in batches.
        annuity = sd.PARAMS["ANNUITY_AAE140"][0]
        people = _People(rng, rng_seed, places, unit_list, end_year, (win_start, win_end), annuity)
        cum: list[float] = []
        acc = 0.0
        for u in unit_list:
            acc += u.weight
            cum.append(acc)
        # Every unit gets at least one person when there are enough people; the rest by size.
        assignment = list(range(min(persons, len(unit_list))))
        rest = persons - len(assignment)
        picks = rng.choices(range(len(unit_list)), cum_weights=cum, k=rest)
        assignment += picks
        for start in range(0, persons, BATCH):
            batch = _Batch()
            for i in range(start, min(persons, start + BATCH)):
                people.person(i, unit_list[assignment[i]], batch)
            _write_batch(conn, batch)
            conn.commit()
            report(STAGE_PERSONS, min(persons, start + BATCH), persons)
        conn.execute("create index on seed_tmp.spell (pidx)")
        conn.execute("analyze seed_tmp.spell; analyze seed_tmp.person")
        conn.commit()

        # Contribution detail, set-based, in parallel chunks; indexes rebuilt afterwards.
        # Autovacuum would chase the bulk inserts on the same two cores; one VACUUM at the end.
        for table in _BULK_TABLES:
            conn.execute(f"alter table core.{table} set (autovacuum_enabled = off)")
        conn.execute("alter table core.ac43 drop constraint ac43_pkey")
        conn.execute("drop index core.ac43_person")
        conn.execute("drop index core.ac43_unit")
        conn.commit()
        chunks = max(WORKERS, min(32, persons // 25_000 + 1))
        bounds = [persons * k // chunks for k in range(chunks + 1)]
        statements = [_ac43_sql(bounds[k], bounds[k + 1], win_start, win_end) for k in range(chunks)]
        counter = [0]

        def chunk_done() -> None:
            counter[0] += 1
            report(STAGE_AC43, counter[0], len(statements))

        report(STAGE_AC43, 0, len(statements))
        _parallel(url, statements, with_changes, chunk_done)

        index_statements = [
            "alter table core.ac43 add constraint ac43_pkey primary key (detail_id)",
            "create index ac43_person on core.ac43 (aac001, aae003)",
            "create index ac43_unit on core.ac43 (aab001, aae003)",
        ]
        idx_counter = [0]

        def index_done() -> None:
            idx_counter[0] += 1
            report(STAGE_INDEX, idx_counter[0], len(index_statements))

        report(STAGE_INDEX, 0, len(index_statements))
        _parallel(url, index_statements, with_changes, index_done)
        # The core's own services number new detail rows from here on.
        conn.execute("select setval('core.ac43_detail_seq', greatest(1, (select max(detail_id) from core.ac43)))")

        # Individual accounts.
        _accounts(conn, win_start, win_end, report)

        # Benefits.
        _benefits(conn, people.retirees, params, end_year, rng, report)
        conn.commit()

        # Finish.
        report(STAGE_FINISH, 0, 1)
        conn.execute("drop schema seed_tmp cascade")
        conn.commit()
        conn.autocommit = True
        for table in _BULK_TABLES:
            conn.execute(f"alter table core.{table} reset (autovacuum_enabled)")
            conn.execute(f"vacuum analyze core.{table}")
        conn.execute("analyze")
        counts: dict[str, int] = {}
        for table in TABLES:
            row = conn.execute(f"select count(*) from core.{table}").fetchone()
            counts[table] = int(cast(int, row[0])) if row else 0
        report(STAGE_FINISH, 1, 1)
    return counts


def _accounts(conn: Conn, win_start: int, win_end: int, report: Progress) -> None:
    """ic20 for the generated years, with the opening balance carried in since the reform.

    One CREATE TABLE AS per year (a new balance table from the previous one) rather than UPDATEs:
    rewriting two million narrow rows is far cheaper than updating them in place.
    """
    first_y, last_y = win_start // 12, win_end // 12
    reform_y = REFORM_PERIOD.year
    steps = (last_y - reform_y + 1) + 1
    step = 0
    report(STAGE_IC20, step, steps)
    conn.execute("""
        create unlogged table seed_tmp.credit as
        select c.aac001, c.aae003 / 100 as y, case when c.aae140 = '120' then 0 else 1 end as k,
               sum(c.to_account) filter (where c.aae078 = '1') as credited
        from core.ac43 c group by 1, 2, 3
    """)
    conn.execute("""
        create unlogged table seed_tmp.acct_0 as
        select p.aac001, p.aaa027, p.factor, p.first_m, p.last_m, a.k, 0.00::numeric(14, 2) as balance
        from seed_tmp.person p cross join (values (0), (1)) as a(k)
        where p.last_m >= p.first_m
    """)
    conn.execute("analyze seed_tmp.credit; analyze seed_tmp.acct_0")
    conn.commit()
    step += 1
    report(STAGE_IC20, step, steps)
    current = "seed_tmp.acct_0"
    for year in range(reform_y, last_y + 1):
        active = f"(a.first_m <= {year * 12 + 11} and a.last_m >= {year * 12})"
        if year < first_y:
            # Before the generated detail: every insured month counts as paid, at the year's base.
            months = f"(least(a.last_m, {year * 12 + 11}) - greatest(a.first_m, {year * 12}) + 1)"
            base = _declared_sql("y", "a")
            credited = f"({months} * (round({base} * y.person_credit, 2) + round({base} * y.unit_credit, 2)))"
            join = ""
        else:
            credited = "coalesce(c.credited, 0)"
            join = f"left join seed_tmp.credit c on c.y = {year} and c.aac001 = a.aac001 and c.k = a.k"
        target = f"seed_tmp.acct_{year}"
        conn.execute(f"""
            create unlogged table {target} as
            select a.aac001, a.aaa027, a.factor, a.first_m, a.last_m, a.k, {active} as active,
                   a.balance as opening, v.credited, y.rate,
                   case when {active} then {_closing_sql("a.balance", "v.credited")} else a.balance end
                       ::numeric(14, 2) as balance
            from {current} a
            join seed_tmp.yparam y on y.aaa027 = a.aaa027 and y.y = {year} and y.k = a.k
            {join}
            cross join lateral (select case when {active} then {credited} else 0 end as credited) v
        """)
        if year >= first_y:
            conn.execute(f"""
                insert into core.ic20 (aac001, aae001, account, opening, credited, aae269, aae240, rate)
                select aac001, {year}, (k + 1)::text, opening, credited, balance - opening - credited, balance, rate
                from {target} where active
            """)
        conn.execute(f"drop table {current}")
        current = target
        conn.commit()
        step += 1
        report(STAGE_IC20, step, steps)
    conn.execute(f"alter table {current} rename to acct")


def checksum(conn: Conn, table: str, order_by: str) -> str:
    """md5 over the canonical text of all rows of ``core.<table>`` in ``order_by`` order."""
    row = conn.execute(
        f"select md5(coalesce(string_agg(t::text, E'\\n' order by {order_by}), '')) from core.{table} t"
    ).fetchone()
    return str(row[0]) if row else ""
