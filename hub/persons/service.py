"""Reading a person's records: permission check, query-store read, channel masking, one audit record.

Every function needs the scope named in its docstring plus the row-level rule of ``hub.access.rules``.
A refused and a missing person raise the same ``NotFound`` along the same path (one ownership query,
one audit record), so neither the body nor the timing tells them apart. Side effect: one audit
record per call, written durably before the function returns.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hub.access import cache, rules
from hub.access.cache import CachedReadContext
from hub.access.consistency import PendingRead
from hub.access.context import ReadContext
from hub.access.scopes import Scope
from hub.errors import NotFound, ValidationFailed
from hub.persons import paging
from hub.persons import repository as repo
from hub.persons.schemas import (
    AccountYearRead,
    BenefitItemRead,
    BenefitPaymentRead,
    BenefitRead,
    CardRead,
    ContributionRead,
    InsuranceRead,
    Page,
    PersonOverviewRead,
    Read,
    StatementLineRead,
)

ACCOUNTS = ("BASIC", "ANNUITY")


async def _grant(ctx: ReadContext, scope: Scope, action: str, person_id: int) -> rules.PersonGrant:
    facts = (await repo.facts_many(ctx.conn, [person_id])).get(person_id)
    grant = rules.person_grant(ctx.subject, scope, facts)
    if grant is None:
        await ctx.audit.record(ctx.caller, action, "person", str(person_id), "not_found")
        raise NotFound()
    return grant


async def _overviews(ctx: ReadContext, person_ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    # Only rows the caller was granted go through the cache; the ownership query is never cached, so a
    # refused and a missing person still take the same path and time.
    return await cache.many(ctx, "person", "overview", person_ids, lambda ids: repo.overview_many(ctx.conn, ids))


async def _done(ctx: ReadContext, action: str, person_id: int) -> None:
    await ctx.audit.record(ctx.caller, action, "person", str(person_id), "ok")


def _overview(ctx: ReadContext, row: dict[str, Any]) -> PersonOverviewRead:
    m = ctx.mask
    return PersonOverviewRead.model_validate(
        {
            **row,
            "id_number": m.id_number(row["id_number"]),
            "name": m.name(row["name"]),
            "phone": m.phone(row["phone"]),
            "address": m.address(row.get("address")),
            "postal_code": m.postal_code(row.get("postal_code")),
        }
    )


async def get_overview(ctx: ReadContext | PendingRead, person_id: int) -> Read[PersonOverviewRead]:
    """参保人基本信息. Scope ``person:read``. Raises NotFound.

    Given a ``PendingRead`` (the gateway's fast path), the position, the ownership facts and the row come
    from one statement; the answer, the refusal and the audit record are the same.
    """
    if isinstance(ctx, PendingRead):
        return await _overview_once(ctx, person_id)
    await _grant(ctx, Scope.PERSON_READ, "person.overview", person_id)
    row = (await _overviews(ctx, [person_id]))[person_id]
    await _done(ctx, "person.overview", person_id)
    return Read(as_of=ctx.as_of, data=_overview(ctx, row))


async def _overview_once(pending: PendingRead, person_id: int) -> Read[PersonOverviewRead]:
    # The facts come from the overview row itself, so a refused and a missing person still differ only
    # in whether that one row exists, as with the separate ownership query; a refused row is not decrypted.
    async with pending.once_keyed(repo.overview_with_facts, [person_id], "person_id") as (read, rows):
        row = rows[0] if rows else None
        facts = repo.overview_facts(row) if row is not None else None
        granted = rules.person_grant(read.subject, Scope.PERSON_READ, facts) is not None
        if granted and row is not None:
            row = await _revealed(read, person_id, row)
    if not granted or row is None:
        await read.audit.record(read.caller, "person.overview", "person", str(person_id), "not_found")
        raise NotFound()
    await _done(read, "person.overview", person_id)
    return Read(as_of=read.as_of, data=_overview(read, row))


async def _revealed(read: CachedReadContext, person_id: int, row: dict[str, Any]) -> dict[str, Any]:
    """The decrypted overview row: from the hot cache when it holds the row as of this snapshot (what
    ``cache.many`` would give), else ``row`` decrypted and cached."""
    hot = read.cache
    if hot is None:
        return await repo.reveal_overview(read.conn, row)
    hit: dict[str, Any] | None = hot.get(("person", person_id), "overview", read.event_id)
    if hit is not None:
        hot.hits += 1
        return hit
    hot.misses += 1
    await repo.reveal_overview(read.conn, row)
    hot.put(("person", person_id), "overview", read.event_id, row)
    return row


async def get_overviews(ctx: ReadContext | PendingRead, person_ids: Sequence[int]) -> dict[int, PersonOverviewRead]:
    """Batch form for DataLoaders: the overviews the caller may see, one audit record per person asked.

    Persons refused or missing are absent from the result (the loader answers them as not found). Given a
    ``PendingRead`` (a GraphQL document of the fast path that reads nothing else), one statement reads the
    position, the facts and the rows.
    """
    wanted = list(dict.fromkeys(person_ids))
    if isinstance(ctx, PendingRead):
        return await _overviews_once(ctx, wanted)
    facts = await repo.facts_many(ctx.conn, wanted)
    allowed = [p for p in wanted if rules.person_grant(ctx.subject, Scope.PERSON_READ, facts.get(p)) is not None]
    rows = await _overviews(ctx, allowed) if allowed else {}
    for p in wanted:
        await ctx.audit.record(ctx.caller, "person.overview", "person", str(p), "ok" if p in rows else "not_found")
    return {p: _overview(ctx, r) for p, r in rows.items()}


async def _overviews_once(pending: PendingRead, wanted: list[int]) -> dict[int, PersonOverviewRead]:
    rows: dict[int, dict[str, Any]] = {}
    async with pending.once_keyed(repo.overview_with_facts, wanted, "person_id") as (read, found):
        for row in found:
            facts = repo.overview_facts(row)
            if rules.person_grant(read.subject, Scope.PERSON_READ, facts) is not None:
                rows[facts.person_id] = await _revealed(read, facts.person_id, row)
    for p in wanted:
        await read.audit.record(read.caller, "person.overview", "person", str(p), "ok" if p in rows else "not_found")
    return {p: _overview(read, rows[p]) for p in wanted if p in rows}


async def list_insurance(ctx: ReadContext, person_id: int) -> Read[list[InsuranceRead]]:
    """参保信息 per 险种. Scope ``person:read``; a unit operator sees only the rows of their unit."""
    grant = await _grant(ctx, Scope.PERSON_READ, "person.insurance", person_id)
    rows = await repo.insurance(ctx.conn, person_id)
    if grant.unit_id is not None:
        rows = [r for r in rows if r["unit_id"] == grant.unit_id]
    await _done(ctx, "person.insurance", person_id)
    return Read(as_of=ctx.as_of, data=[InsuranceRead.model_validate(r) for r in rows])


async def list_contributions(
    ctx: ReadContext,
    person_id: int,
    *,
    year: int | None = None,
    insurance: str | None = None,
    cursor: str | None = None,
    limit: int | None = None,
) -> Page[ContributionRead]:
    """缴费明细, newest first, keyset-paged. Scope ``contribution:read``; a unit operator sees their unit's rows."""
    n = paging.clamp(limit)
    after = paging.decode(cursor, 2)
    paging.year(year)
    paging.insurance(insurance)
    if after is not None and not 0 <= after[0] <= 999_912:  # a period YYYYMM
        raise ValidationFailed("分页游标无效")
    grant = await _grant(ctx, Scope.CONTRIBUTION_READ, "person.contributions", person_id)
    rows = await repo.contributions(
        ctx.conn,
        person_id,
        unit_id=grant.unit_id,
        year=year,
        insurance=insurance,
        after=(after[0], after[1]) if after else None,
        limit=n + 1,
    )
    await _done(ctx, "person.contributions", person_id)
    more = len(rows) > n
    rows = rows[:n]
    next_cursor = paging.encode(rows[-1]["period"], rows[-1]["detail_id"]) if more else None
    return Page(as_of=ctx.as_of, data=[ContributionRead.model_validate(r) for r in rows], next_cursor=next_cursor)


async def list_accounts(ctx: ReadContext, person_id: int, account: str | None = None) -> Read[list[AccountYearRead]]:
    """个人账户 by year (``BASIC`` or ``ANNUITY``, both by default). Scope ``account:read``."""
    if account is not None and account not in ACCOUNTS:
        raise ValidationFailed("账户类型应为 BASIC 或 ANNUITY")
    await _grant(ctx, Scope.ACCOUNT_READ, "person.accounts", person_id)
    rows = await repo.accounts(ctx.conn, person_id, account)
    await _done(ctx, "person.accounts", person_id)
    return Read(as_of=ctx.as_of, data=[AccountYearRead.model_validate(r) for r in rows])


async def get_benefit(ctx: ReadContext, person_id: int) -> Read[BenefitRead | None]:
    """核定待遇 with its items; ``data`` is null for a person without a benefit. Scope ``benefit:read``."""
    await _grant(ctx, Scope.BENEFIT_READ, "person.benefit", person_id)
    row = await repo.benefit(ctx.conn, person_id)
    items = await repo.benefit_items(ctx.conn, person_id) if row else []
    await _done(ctx, "person.benefit", person_id)
    data = (
        BenefitRead.model_validate({**row, "items": [BenefitItemRead.model_validate(i) for i in items]})
        if row
        else None
    )
    return Read(as_of=ctx.as_of, data=data)


async def list_payments(ctx: ReadContext, person_id: int, year: int | None = None) -> Read[list[BenefitPaymentRead]]:
    """待遇发放记录 by month, optionally of one year. Scope ``benefit:read``."""
    paging.year(year)
    await _grant(ctx, Scope.BENEFIT_READ, "person.payments", person_id)
    rows = await repo.payments(ctx.conn, person_id, year)
    await _done(ctx, "person.payments", person_id)
    return Read(as_of=ctx.as_of, data=[BenefitPaymentRead.model_validate(r) for r in rows])


async def get_card(ctx: ReadContext, person_id: int) -> Read[CardRead | None]:
    """社会保障卡; the number masked per channel. Scope ``card:read``."""
    await _grant(ctx, Scope.CARD_READ, "person.card", person_id)
    row = await repo.card(ctx.conn, person_id)
    await _done(ctx, "person.card", person_id)
    data = CardRead.model_validate({**row, "card_no": ctx.mask.card_no(row["card_no"])}) if row else None
    return Read(as_of=ctx.as_of, data=data)


async def get_rights_statement(
    ctx: ReadContext, person_id: int, year: int | None = None
) -> Read[list[StatementLineRead]]:
    """个人权益记录: yearly sums per 险种. Scope ``statement:read``."""
    paging.year(year)
    await _grant(ctx, Scope.STATEMENT_READ, "person.statement", person_id)
    rows = await repo.rights_statement(ctx.conn, person_id, year)
    await _done(ctx, "person.statement", person_id)
    return Read(as_of=ctx.as_of, data=[StatementLineRead.model_validate({**r, "months": r["rows"]}) for r in rows])
