"""The real encrypted columns: the query store's read models (sync) and the hub account phone.

A seeded province goes through the backfill and the incremental worker; the store must hold no ID number,
phone or bank account in plaintext, open every envelope to the core's value, find persons by blind index
however the number is typed, survive a data-key rotation, and `sync verify` must say equal.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, cast

import pytest
from psycopg.rows import dict_row

from core import seed
from hub import pg
from hub.access.subject import SubjectKind
from hub.config.crypto import DEV_KEK
from hub.crypto import columns, keys, ring
from hub.crypto.fields import key_id_of
from hub.crypto.rotation import HUB, QUERY, pending
from hub.identity import accounts
from sync import apply, feed, verify
from sync.backfill import backfill
from sync.worker import FEED, SyncWorker
from tests.conftest import Databases

NOW = datetime(2026, 11, 27, 2, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _dev_kek() -> Iterator[None]:
    ring.configure(DEV_KEK)
    yield
    ring.reset()


def _core_secrets(dbs: Databases) -> dict[str, Any]:
    with pg.connect(dbs.core_url) as core:
        # aac001 and aab001 are bigint.
        persons = {
            cast(int, p): (str(i), ph) for p, i, ph in core.execute("select aac001, aac002, aac067 from core.ac01")
        }
        units = {
            cast(int, u): (c, b)
            for u, c, b in core.execute("select aab001, contact_phone, bank_account from core.ab01")
        }
    return {"persons": persons, "units": units}


def _row_texts(dbs: Databases, table: str) -> list[str]:
    with pg.connect(dbs.query_url) as store:
        return [str(r[0]) for r in store.execute(f"select t::text from {table} t")]


def _no_plaintext(dbs: Databases, secrets: dict[str, Any]) -> None:
    values = {v for pair in secrets["persons"].values() for v in pair if v}
    values |= {v for pair in secrets["units"].values() for v in pair if v}
    assert values, "the seeded province has personal numbers"
    for table in ("person_overview", "unit_overview"):
        texts = _row_texts(dbs, table)
        assert texts
        leaked = [v for v in values for t in texts if v in t]
        assert leaked == [], f"{table} holds plaintext"


def _equal(dbs: Databases) -> list[str]:
    return [r.name for r in verify.verify(dbs.core_url, dbs.query_url, wait_seconds=0) if not r.equal]


def test_backfill_seals_every_number_and_lookups_use_the_blind_index(dbs: Databases) -> None:
    seed.seed(dbs.core_url, persons=30, years=1)
    secrets = _core_secrets(dbs)
    backfill(dbs.core_url, dbs.query_url)
    _no_plaintext(dbs, secrets)
    assert _equal(dbs) == []
    with pg.connect(dbs.query_url) as store, store.cursor(row_factory=dict_row) as cur:
        rows = columns.reveal(store, "person_overview", cur.execute("select * from person_overview").fetchall())
        assert {r["person_id"]: (r["id_number"], r["phone"]) for r in rows} == secrets["persons"]
        assert all("id_number_enc" not in r and "phone_bidx" not in r for r in rows)
        units = columns.reveal(store, "unit_overview", cur.execute("select * from unit_overview").fetchall())
        assert {u["unit_id"]: (u["contact_phone"], u["bank_account"]) for u in units} == secrets["units"]
        # The ID number typed in full-width digits with a lower-case check character finds the same person.
        person_id, (id_number, _) = next(iter(sorted(secrets["persons"].items())))
        typed = id_number.lower().translate({ord(d): ord(d) + 0xFEE0 for d in "0123456789"})
        index = columns.blind_index(store, columns.PERSON_ID_NUMBER, typed)
        found = store.execute("select person_id from person_overview where id_number_bidx = %s", (index,))
        assert found.fetchall() == [(person_id,)]


def test_incremental_sync_seals_and_verify_catches_a_moved_envelope(dbs: Databases) -> None:
    seed.seed(dbs.core_url, persons=20, years=1, with_changes=True)
    secrets = _core_secrets(dbs)
    with pg.connect(dbs.query_url) as store:
        apply.init_checkpoint(store, FEED, feed.EMPTY_SNAPSHOT)
        store.commit()
    worker = SyncWorker(dbs.core_url, dbs.query_url, batch_size=500)
    worker.drain()
    worker.close()
    _no_plaintext(dbs, secrets)
    assert _equal(dbs) == []
    a, b = sorted(secrets["persons"])[:2]
    with pg.connect(dbs.query_url) as store:
        # Person a's envelope copied into person b's row: it is bound to a's row key and must not pass.
        store.execute(
            "update person_overview set id_number_enc = (select id_number_enc from person_overview "
            "where person_id = %s) where person_id = %s",
            (a, b),
        )
        store.commit()
    report = {r.name: r for r in verify.verify(dbs.core_url, dbs.query_url, wait_seconds=0)}
    assert report["person_overview"].differing == [f"({b})"]
    verify.verify(dbs.core_url, dbs.query_url, repair=True, wait_seconds=0)
    assert _equal(dbs) == []


def test_data_step_seals_plaintext_left_by_the_previous_release(dbs: Databases) -> None:
    seed.seed(dbs.core_url, persons=10, years=1)
    secrets = _core_secrets(dbs)
    backfill(dbs.core_url, dbs.query_url)
    person_id = min(secrets["persons"])
    id_number, phone = secrets["persons"][person_id]
    with pg.connect(dbs.query_url) as store:
        # As the previous release wrote it: plaintext only.
        store.execute(
            "update person_overview set id_number = %s, phone = %s, id_number_enc = null, id_number_bidx = null, "
            "phone_enc = null, phone_bidx = null where person_id = %s",
            (id_number, phone, person_id),
        )
        store.commit()
    assert _equal(dbs) == ["person_overview"]  # plaintext in the store is a difference
    with pg.connect(dbs.query_url) as store:
        sealed_now = columns.seal_leftovers(store, QUERY)
    assert sealed_now == 2  # one ID number and one phone
    _no_plaintext(dbs, secrets)
    assert _equal(dbs) == []


def test_rotation_reseals_both_databases_and_lookups_still_work(dbs: Databases) -> None:
    seed.seed(dbs.core_url, persons=12, years=1)
    secrets = _core_secrets(dbs)
    backfill(dbs.core_url, dbs.query_url)
    with pg.connect(dbs.hub_url) as hub:
        account_id = accounts.insert(
            hub,
            kind=SubjectKind.PERSON,
            login="blind-login",
            display_name="张三",
            password_hash="x",
            now=NOW,
            phone="13800138000",
            person_id=1,
        )
        hub.commit()
    with pg.connect(dbs.query_url) as store:
        old = keys.load(store, ring.kek(), keys.QUERY_TABLE)
        assert old is not None
        before = {cast(bytes, r[0]) for r in store.execute("select id_number_enc from person_overview")}  # bytea
        store.rollback()
        active, resealed, retired = columns.rotate(store, QUERY, batch=5)
        # Every person has an ID number and a phone, every unit a contact phone and a bank account.
        expected = sum(1 for i, p in secrets["persons"].values() for v in (i, p) if v) + sum(
            1 for c, b in secrets["units"].values() for v in (c, b) if v
        )
        assert resealed == expected
        assert active != old.active_id and retired == [old.active_id]
        after = [cast(bytes, r[0]) for r in store.execute("select id_number_enc from person_overview")]  # bytea
        assert {key_id_of(e) for e in after} == {active} and not before & set(after)
        new = keys.load(store, ring.kek(), keys.QUERY_TABLE)
        assert new is not None
        assert all(pending(store, new, c) == 0 for c in columns.BY_TABLE["person_overview"])
        person_id, (id_number, _) = min(secrets["persons"].items())
        index = columns.blind_index(store, columns.PERSON_ID_NUMBER, id_number)
        found = store.execute("select person_id from person_overview where id_number_bidx = %s", (index,))
        assert found.fetchall() == [(person_id,)]
    assert _equal(dbs) == []
    with pg.connect(dbs.hub_url) as hub:
        before_row = hub.execute("select phone_enc from hub.account where id = %s", (account_id,)).fetchone()
        assert before_row is not None
        envelope_before = cast(bytes, before_row[0])  # phone_enc: bytea
        hub.rollback()
        hub_active, hub_resealed, _ = columns.rotate(hub, HUB)
        assert hub_resealed == 1
        after_row = hub.execute("select phone_enc from hub.account where id = %s", (account_id,)).fetchone()
        assert after_row is not None
        envelope_after = cast(bytes, after_row[0])  # phone_enc: bytea
        assert key_id_of(envelope_after) == hub_active != key_id_of(envelope_before)
        assert [a.id for a in accounts.find_by_phone(hub, "+86 138 0013 8000")] == [account_id]
        account = accounts.get(hub, account_id)
        assert account is not None and account.phone == "13800138000"


def test_account_phone_is_only_stored_sealed(dbs: Databases) -> None:
    with pg.connect(dbs.hub_url) as hub:
        account_id = accounts.insert(
            hub,
            kind=SubjectKind.PERSON,
            login="sealed-phone",
            display_name="李四",
            password_hash="x",
            now=NOW,
            phone="13900001111",
            person_id=2,
        )
        accounts.set_account_phone(hub, account_id, "139 0000 2222")
        hub.commit()
        row = hub.execute("select phone, phone_enc, a::text from hub.account a where id = %s", (account_id,)).fetchone()
        assert row is not None and row[0] is None and row[1] is not None
        text = cast(str, row[2])  # a::text
        assert "13900002222" not in text and "13900001111" not in text
        account = accounts.get(hub, account_id)
        assert account is not None and account.phone == "13900002222"  # stored canonical
        assert accounts.find_by_phone(hub, "13900001111") == []  # the old number no longer matches
        # A row the previous release wrote in plaintext is sealed by the data step and reads the same.
        hub.execute(
            "update hub.account set phone = '13700003333', phone_enc = null, phone_bidx = null where id = %s",
            (account_id,),
        )
        hub.commit()
        account = accounts.get(hub, account_id)
        assert account is not None and account.phone == "13700003333"
        assert columns.seal_leftovers(hub, HUB) == 1
        scan = hub.execute("select count(*) from hub.account where phone is not null").fetchone()
        assert scan == (0,)
        assert [a.id for a in accounts.find_by_phone(hub, "137-0000-3333")] == [account_id]
