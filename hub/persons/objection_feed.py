"""已更正 of an accepted 权益记录核查, detected from the core's change feed as the sync applied it.

A separate pass over the sync's events (not a step of the sync's apply path, which stays as fast as it
was): it reads the query store's ``sync_event`` rows after its own position (the ``objection-feed`` row of
``hub.push_cursor``), takes the persons they name, and for those persons' accepted objections compares the
objected record in the store (one contribution month of one 险种, or one account year) with its fingerprint
taken when staff accepted (``person_services_repository.record_digest``). A record that differs was changed
by a sync round after the acceptance: the objection moves to 已更正 with that event's id and the core snapshot
of its round as the change's position, an audit record and the person's push notice. A change of another
month, another 险种, another year or another person leaves the fingerprint, and so the objection, as it was.
A rebuild of the store (``hub sync backfill``, one ``all`` event) checks every accepted objection.

Exactly once: the position, the state change (guarded: only an ``accepted`` objection moves), the audit
record and the notice (unique per objection and state, shared with staff's manual 已更正) are written in the
caller's one hub-DB transaction; a crash repeats the round, which finds nothing left to do. An objection
accepted before fingerprints existed gets its fingerprint the first time the pass meets it (no closing then).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg

from hub.audit import sync_writer as audit
from hub.config.push import PushSettings
from hub.persons import person_services_repository as repo
from hub.persons.objections import AUDIT_PURPOSE, ObjectionStatus, notify_answer

log = logging.getLogger(__name__)

CURSOR = "objection-feed"  # its row in hub.push_cursor
ACTOR = "objection-feed"


@dataclass(frozen=True)
class Round:
    events: int  # sync events read
    checked: int  # accepted objections compared
    corrected: int  # moved to 已更正


def _position(hub: psycopg.Connection[Any]) -> int:
    hub.execute("insert into hub.push_cursor (name, last_event_id) values (%s, 0) on conflict do nothing", (CURSOR,))
    row = hub.execute("select last_event_id from hub.push_cursor where name = %s for update", (CURSOR,)).fetchone()
    assert row is not None
    return int(row[0])


def run_round(
    hub: psycopg.Connection[Any], store: psycopg.Connection[Any], settings: PushSettings, now: datetime
) -> Round:
    """One round over the next sync events (at most ``settings.batch``). The caller commits ``hub``."""
    position = _position(hub)  # locked: a second pass waits, then reads on from where this one ended
    store.commit()  # the round reads the store at one snapshot: the events and the records as of them
    with store.transaction():
        store.execute("set transaction isolation level repeatable read, read only")
        # Every event, not only the persons' ones, so that the position moves past the others too.
        events = store.execute(
            "select id, subject_type, subject_id, snapshot from sync_event where id > %s order by id limit %s",
            (position, settings.batch),
        ).fetchall()
        if not events:
            return Round(0, 0, 0)
        checked, corrected = _check(hub, store, events, settings, now)
    hub.execute("update hub.push_cursor set last_event_id = %s where name = %s", (int(events[-1][0]), CURSOR))
    return Round(len(events), checked, corrected)


def _check(
    hub: psycopg.Connection[Any],
    store: psycopg.Connection[Any],
    events: list[tuple[Any, ...]],
    settings: PushSettings,
    now: datetime,
) -> tuple[int, int]:
    """(accepted objections compared, corrected) for the persons ``events`` name."""
    # The last event of each person in this round: the position recorded with a correction it shows (the
    # sync round that carried the change, or a later one of the same person when several came together).
    seen: dict[int, tuple[int, str]] = {}
    rebuilt: tuple[int, str] | None = None
    for event_id, subject_type, subject_id, snapshot in events:
        if subject_type == "all":
            rebuilt = (int(event_id), str(snapshot))
        elif subject_type == "person" and str(subject_id).isdigit():
            seen[int(subject_id)] = (int(event_id), str(snapshot))
    if rebuilt is None and not seen:
        return 0, 0
    objections = repo.accepted_objections(hub, None if rebuilt is not None else sorted(seen))
    corrected = 0
    for objection in objections:
        at = seen.get(int(objection["person_id"]), rebuilt)
        if at is None:
            continue
        digest = repo.record_digest(store, objection)
        if objection["record_digest"] is None:
            repo.set_record_digest(hub, int(objection["id"]), digest)
        elif digest != objection["record_digest"] and _correct(hub, store, objection, at, settings, now):
            corrected += 1
    return len(objections), corrected


def _correct(
    hub: psycopg.Connection[Any],
    store: psycopg.Connection[Any],
    objection: dict[str, Any],
    at: tuple[int, str],
    settings: PushSettings,
    now: datetime,
) -> bool:
    objection_id = int(objection["id"])
    event_id, snapshot = at
    if not repo.correct_from_feed(hub, objection_id, now, event_id, snapshot):
        return False
    audit.event(hub, "objection.corrected", "ok", at=now, actor_kind="system", actor=ACTOR,
                target_type="objection", target_id=str(objection_id), purpose=AUDIT_PURPOSE,
                channel="sync")  # fmt: skip
    facts = repo.person_facts(store, int(objection["person_id"]))
    notify_answer(
        hub, objection, ObjectionStatus.CORRECTED, "", phone=facts.phone if facts else None, push=settings, now=now
    )
    log.info("objection %s corrected from the change feed (sync event %s)", objection_id, event_id)
    return True
