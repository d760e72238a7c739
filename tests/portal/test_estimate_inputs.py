"""The estimator's inputs read from the query store equal what the core itself reads, and the portal's
estimate is the rule's estimate over them (hand-computed cases of the rule: tests/rules)."""

from __future__ import annotations

import asyncio
import re
from dataclasses import fields
from datetime import date
from decimal import Decimal
from typing import Any, cast

import psycopg
from psycopg_pool import AsyncConnectionPool

from core import params as core_params
from core import service as core_service
from hub import pg
from hub.access.context import Caller, ReadContext
from hub.access.scopes import PERSON_SCOPES
from hub.access.subject import Channel, Subject, SubjectKind
from hub.audit.writer import AuditLog
from hub.db import ReadConnection
from hub.errors import NotFound
from hub.persons import estimate_inputs
from hub.rules.estimate import Assumptions, History, estimate
from hub.rules.params import RegionParams
from tests.api.conftest import Province
from tests.portal.conftest import Portal
from tests.portal.kit import log_in, working_persons

TODAY = date(2026, 11, 27)


def _person(pid: int) -> Subject:
    return Subject(
        SubjectKind.PERSON, f"p{pid}", "portal-web", Channel.PORTAL, frozenset(s.value for s in PERSON_SCOPES),
        person_id=pid,
    )  # fmt: skip


def _read(p: Province, subject: Subject, work: Any) -> tuple[Any, list[tuple[Any, ...]]]:
    request_id = f"req-est-{subject.account_id}"

    async def go() -> Any:
        pool: AsyncConnectionPool[Any] = AsyncConnectionPool(pg.libpq(p.hub_url), min_size=1, max_size=2, open=False)
        await pool.open()
        audit = AuditLog(pool, anchor_key=b"test audit anchor key")
        await audit.start()
        try:
            async with await psycopg.AsyncConnection.connect(pg.libpq(p.query_url)) as conn:
                return await work(ReadContext(ReadConnection(conn), Caller(subject, request_id), audit, "test"))
        finally:
            await audit.close()
            await pool.close()

    result = asyncio.run(go())
    with psycopg.connect(pg.libpq(p.hub_url)) as conn:
        rows = conn.execute(
            "select action, target_id, result from hub.audit_log where request_id = %s order by at, seq", (request_id,)
        ).fetchall()
    return result, rows


def _sorted(params: RegionParams) -> dict[str, Any]:
    return {
        f.name: sorted(map(repr, v)) if isinstance(v, tuple) else v
        for f in fields(params)
        for v in [getattr(params, f.name)]
    }


def _core_history(p: Province, pid: int, region: str) -> tuple[RegionParams, History]:
    """The person's record as the core reads it when it decides a benefit (core.service.approve_benefit)."""
    with psycopg.connect(pg.libpq(p.core_url)) as core:
        params = core_params.load(core, region)
        z, months = core_service.average_index(core, params, pid)
        birth, sex, position = core.execute(
            "select aac006, aac004, position_level from core.ac01 where aac001 = %s", (pid,)
        ).fetchone()  # type: ignore[misc]
        deemed = core.execute(
            "select deemed_months from core.ac02 where aac001 = %s and aae140 = '120'", (pid,)
        ).fetchone()
        (year,) = core.execute("select max(aae001) from core.ic20 where aac001 = %s", (pid,)).fetchone()  # type: ignore[misc]
        balances: dict[str, Decimal] = dict(
            core.execute(
                "select account, aae240 from core.ic20 where aac001 = %s and aae001 = %s", (pid, year)
            ).fetchall()
        )
        (wage,) = core.execute(
            "select aac040 from core.ac43 where aac001 = %s and aae140 = '120' and aaa115 <> '21' "
            "order by aae003 desc, detail_id desc limit 1",
            (pid,),
        ).fetchone()  # type: ignore[misc]
    history = History(
        birth=birth,
        sex=sex,
        balance_year=year,
        account_balance=balances["1"],
        annuity_balance=balances["2"],
        deemed_months=int(deemed[0]) if deemed else 0,
        paid_months=months,
        average_index=z,
        deemed_index=Decimal(params.param(f"DEEMED_INDEX_{position}", TODAY)),
        current_wage=wage,
        female_original_age=50 if sex == "2" and position == "工勤" else 55,
    )
    return params, history


def test_region_parameters_from_the_store_equal_the_core_tables(province: Province) -> None:
    regions = sorted({u["region_code"] for u in province.units})
    for region in regions:
        stored, _ = _read(province, _person(0), lambda ctx, r=region: estimate_inputs.region_params(ctx.conn, r))
        with psycopg.connect(pg.libpq(province.core_url)) as core:
            expected = core_params.load(core, region)
        assert _sorted(stored) == _sorted(expected), region
        assert stored.rate_rows and stored.wage_rows and stored.payout_rows and stored.param_rows


def test_history_equals_what_the_core_reads(province: Province) -> None:
    pid = working_persons(province)[0]
    inputs, audit = _read(province, _person(pid), lambda ctx: estimate_inputs.person_history(ctx, pid, today=TODAY))
    params, expected = _core_history(province, pid, inputs.params.region)
    assert inputs.history == expected
    assert not inputs.retired
    assert _sorted(inputs.params) == _sorted(params)
    assert ("person.estimate", str(pid), "ok") in audit


def test_another_persons_history_is_refused_and_audited(province: Province) -> None:
    a, b = working_persons(province)[:2]

    async def work(ctx: ReadContext) -> str:
        try:
            await estimate_inputs.person_history(ctx, b, today=TODAY)
        except NotFound as exc:
            return type(exc).__name__
        return "read"

    outcome, audit = _read(province, _person(a), work)
    assert outcome == "NotFound" and ("person.estimate", str(b), "not_found") in audit


def test_the_portal_estimate_is_the_rule_over_the_core_inputs(portal: Portal, province: Province) -> None:
    log_in(portal.client, province, portal.me)
    pid = portal.me.person_id
    with pg.connect(province.query_url) as conn:
        found = conn.execute("select region_code from person_overview where person_id = %s", (pid,)).fetchone()
    assert found is not None
    params, history = _core_history(province, pid, cast(str, found[0]))
    page = portal.client.get(
        "/portal/me/estimate", params={"age_years": "63", "age_months": "0", "wage_growth": "2.5", "interest": "1.5"}
    )
    assert page.status_code == 200, page.text
    assert _shown(page.text, "目前月缴费工资") == history.current_wage
    expected = estimate(
        params,
        history,
        Assumptions(retire_age_months=63 * 12, wage_growth=Decimal("0.025"), interest_rate=Decimal("0.015")),
    )
    assert f"预计每月养老金约 <strong>{expected.benefit.total:,.2f} 元</strong>" in page.text
    for label, amount in (("基础养老金", expected.benefit.basic), ("个人账户养老金", expected.benefit.account),
                          ("职业年金（税后）", expected.benefit.annuity_after_tax)):  # fmt: skip
        assert f'<td>{label}</td><td class="num">{amount:,.2f}</td>' in page.text, label
    assert "1.5%" in page.text  # the assumed rate, as the person typed it


def _shown(html: str, label: str) -> Decimal:
    found = re.search(rf"<dt>{label}</dt><dd>([0-9,]+\.[0-9]{{2}}) 元</dd>", html)
    assert found, label
    return Decimal(found.group(1).replace(",", ""))
