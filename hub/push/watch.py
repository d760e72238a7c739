"""Business facts read off the query store's sync events: a card status change, a pension payment.

The watcher keeps its position in the sync events (``hub.push_cursor``) and the last value of each fact
it watches per person (``hub.push_fact``), all in the hub DB and in one transaction per round, so a crash
repeats the round and the notices' source keys (``sync:<event id>:<fact>``) make the repeat a no-op.
A person seen for the first time only gets a baseline: switching push on never floods anyone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg

from hub.config.push import PushSettings
from hub.content.inbox import MessageKind
from hub.crypto import columns as sealed
from hub.persons.cards import card_status_label
from hub.push.decide import Urgency
from hub.push.service import Notice, notify

CURSOR = "sync"


@dataclass(frozen=True)
class Facts:
    phone: str | None
    card_status: str | None
    last_payment: tuple[int, str, str] | None  # (period yyyymm, amount, paid_on ISO date)


def _position(hub: psycopg.Connection[Any]) -> int:
    hub.execute("insert into hub.push_cursor (name, last_event_id) values (%s, 0) on conflict do nothing", (CURSOR,))
    row = hub.execute("select last_event_id from hub.push_cursor where name = %s for update", (CURSOR,)).fetchone()
    assert row is not None
    return int(row[0])


def read_facts(store: psycopg.Connection[Any], person_ids: list[int]) -> dict[int, Facts]:
    rows = store.execute(
        "select p.person_id, p.phone_enc, c.status, pay.period, pay.amount::text, pay.paid_on::text "
        "from person_overview p left join card c using (person_id) "
        "left join lateral (select period, amount, paid_on from benefit_payment b where b.person_id = p.person_id "
        "and b.paid_on is not null order by period desc limit 1) pay on true where p.person_id = any(%s)",
        (person_ids,),
    ).fetchall()
    rows = sealed.open_column(store, sealed.PERSON_PHONE, rows, key_at=0, value_at=1)
    return {
        int(pid): Facts(phone, status, (int(period), amount, paid_on) if period is not None else None)
        for pid, phone, status, period, amount, paid_on in rows
    }


def _month(period: int) -> str:
    return f"{period // 100}年{period % 100}月"


def _day(iso: str) -> str:
    y, m, d = iso.split("-")
    return f"{int(y)}年{int(m)}月{int(d)}日"


def _changes(person_id: int, event_id: int, facts: Facts) -> list[tuple[str, str, Notice | None]]:
    """(fact, new value, notice to send if it changed) for each watched fact of one person."""
    # An absent fact is recorded too ("none", "0"), so a person's first card or first payment is news.
    out: list[tuple[str, str, Notice | None]] = []
    if facts.card_status is None:
        out.append(("card_status", "none", None))
    else:
        label = card_status_label(facts.card_status)
        out.append(
            (
                "card_status",
                facts.card_status,
                Notice(
                    f"sync:{event_id}:card_status",
                    person_id,
                    MessageKind.CARD,
                    "社会保障卡状态变更",
                    f"您的社会保障卡状态已变更为：{label}。如非本人操作，请立即致电12333。",
                    "card_status",
                    {"status": label},
                    Urgency.URGENT,  # may be fraud: never held by quiet hours
                ),
            )
        )
    if facts.last_payment is None:
        out.append(("last_payment", "0", None))
    else:
        period, amount, paid_on = facts.last_payment
        out.append(
            (
                "last_payment",
                str(period),
                Notice(
                    f"sync:{event_id}:last_payment",
                    person_id,
                    MessageKind.PAYMENT,
                    "养老待遇已发放",
                    f"您{_month(period)}的养老待遇{amount}元已于{_day(paid_on)}发放。",
                    "benefit_paid",
                    {"month": _month(period), "amount": amount, "paid_on": _day(paid_on)},
                ),
            )
        )
    return out


def run_round(
    hub: psycopg.Connection[Any], store: psycopg.Connection[Any], settings: PushSettings, now: datetime
) -> tuple[int, int]:
    """One round over the next sync events: returns (events read, notices sent). The caller commits ``hub``."""
    position = _position(hub)
    events = store.execute(
        "select id, subject_type, subject_id from sync_event where id > %s order by id limit %s",
        (position, settings.batch),
    ).fetchall()
    store.commit()
    if not events:
        return 0, 0
    last_event: dict[int, int] = {}
    for event_id, subject_type, subject_id in events:
        if subject_type == "person":
            last_event[int(subject_id)] = int(event_id)
    facts = read_facts(store, sorted(last_event)) if last_event else {}
    store.commit()
    sent = 0
    for person_id, event_id in last_event.items():
        person = facts.get(person_id)
        if person is None:
            continue
        for fact, value, notice in _changes(person_id, event_id, person):
            row = hub.execute(
                "select value from hub.push_fact where person_id = %s and fact = %s for update", (person_id, fact)
            ).fetchone()
            hub.execute(
                "insert into hub.push_fact (person_id, fact, value, seen_at) values (%s, %s, %s, %s) "
                "on conflict (person_id, fact) do update set value = excluded.value, seen_at = excluded.seen_at",
                (person_id, fact, value, now),
            )
            if row is None or row[0] == value or notice is None:
                continue  # first sight is a baseline; an unchanged fact is no news
            if fact == "last_payment" and int(value) < int(row[0]):
                continue  # a correction of an older month is not a new payment
            if notify(hub, notice, phone=person.phone, now=now, settings=settings) is not None:
                sent += 1
    hub.execute("update hub.push_cursor set last_event_id = %s where name = %s", (int(events[-1][0]), CURSOR))
    return len(events), sent
