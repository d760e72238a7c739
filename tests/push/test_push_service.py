"""Notices on the real hub DB and query store: once per source key, held SMS released after quiet hours,
and card and payment changes in the core reaching the person through the sync events."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import psycopg

from hub import pg
from hub.config.push import PushSettings
from hub.content.inbox import MessageKind
from hub.messaging import sealed as sms_sealed
from hub.push import service, watch
from hub.push.decide import Urgency
from sync import apply, feed
from sync.worker import FEED, SyncWorker
from tests.conftest import Databases
from tests.fixtures import core_rows

SETTINGS = PushSettings()
NOON = datetime(2026, 11, 27, 4, 0, tzinfo=UTC)  # 12:00 in Shanghai
NIGHT = datetime(2026, 11, 27, 15, 0, tzinfo=UTC)  # 23:00 in Shanghai
PHONE = "13900000001"


def _sms(hub: psycopg.Connection[Any]) -> list[tuple[str, str, dict[str, str]]]:
    return [(m["recipient"], m["template"], dict(m["personalisation"])) for m in sms_sealed.messages(hub)]


def _inbox(hub: psycopg.Connection[Any]) -> list[tuple[int, str, str]]:
    return [tuple(r) for r in hub.execute("select person_id, kind, title from hub.inbox_message order by id")]


def test_one_notice_per_source_key(dbs: Databases) -> None:
    notice = service.Notice(
        "declaration:42:applied",
        1,
        MessageKind.BUSINESS,
        "业务已办结",
        "您办理的参保信息变更已办结。",
        "business_done",
        {"business": "参保信息变更", "reference": "42", "result": "已办结"},
    )
    with pg.connect(dbs.hub_url) as hub:
        first = service.notify(hub, notice, phone=PHONE, now=NOON, settings=SETTINGS)
        again = service.notify(hub, notice, phone=PHONE, now=NOON, settings=SETTINGS)
        hub.commit()
        assert first is not None and first.sms and not first.app  # no app: the SMS fallback
        assert again is None
        assert _sms(hub) == [(PHONE, "business_done", notice.personalisation)]
        assert _inbox(hub) == []


def test_quiet_hours_hold_the_sms_until_morning(dbs: Databases) -> None:
    notice = service.Notice(
        "payment:1:202611", 1, MessageKind.PAYMENT, "养老待遇已发放", "……", "benefit_paid",
        {"month": "2026年11月", "amount": "4321.00", "paid_on": "2026年11月27日"},
    )  # fmt: skip
    with pg.connect(dbs.hub_url) as hub:
        decision = service.notify(hub, notice, phone=PHONE, now=NIGHT, settings=SETTINGS)
        hub.commit()
        morning = datetime(2026, 11, 28, 0, 0, tzinfo=UTC)  # 08:00 in Shanghai
        assert decision is not None and decision.sms_at == morning
        assert _sms(hub) == []
        # While held, the number is kept only sealed to the notice.
        held = hub.execute("select sms_phone, sms_phone_enc is not null from hub.push_notice").fetchall()
        assert held == [(None, True)]
        assert service.release_due(hub, morning - timedelta(seconds=1)) == 0
        assert service.release_due(hub, morning) == 1
        assert service.release_due(hub, morning + timedelta(hours=1)) == 0  # released once
        hub.commit()
        assert [t for _, t, _ in _sms(hub)] == ["benefit_paid"]
        kept = hub.execute(
            "select count(*) from hub.push_notice where sms_phone is not null or sms_phone_enc is not null"
        ).fetchone()
        assert kept == (0,)  # the phone is not kept once the SMS is queued


def test_preferences_are_validated(dbs: Databases) -> None:
    with pg.connect(dbs.hub_url) as hub:
        try:
            service.save_preferences(hub, 1, {"payment": "fax"}, None, None, NOON)
        except Exception as exc:
            assert "通知方式" in str(exc)
        else:
            raise AssertionError("an unknown route was accepted")
        prefs = service.save_preferences(hub, 1, {"business": "both"}, None, None, NOON)
        hub.commit()
        assert service.load_preferences(hub, 1, SETTINGS) == prefs


def _sync(worker: SyncWorker) -> None:
    worker.drain()


def test_card_and_payment_changes_reach_the_person(dbs: Databases) -> None:
    with pg.connect(dbs.query_url) as store:
        apply.init_checkpoint(store, FEED, feed.EMPTY_SNAPSHOT)
        store.commit()
    with pg.connect(dbs.core_url) as core:
        core_rows.basics(core, units=1, persons=2)
        core.execute(
            "insert into core.ac50 values (1, '100000001', 'id1', '1', '工商银行', %s), "
            "(2, '100000002', 'id2', '1', '工商银行', %s)",
            (date(2020, 1, 1), date(2020, 1, 1)),
        )
        core.commit()
    worker = SyncWorker(dbs.core_url, dbs.query_url, batch_size=100)
    try:
        _sync(worker)
        with pg.connect(dbs.hub_url) as hub, pg.connect(dbs.query_url) as store:
            events, sent = watch.run_round(hub, store, SETTINGS, NOON)
            hub.commit()
            assert events > 0 and sent == 0  # first sight: baselines only, nobody is flooded

            with pg.connect(dbs.core_url) as core:
                core.execute("update core.ac50 set status = '2' where aac001 = 1")  # 挂失
                core.execute(
                    "insert into core.ic60 values (2, '2026-10-31', 'NEW', 5000.00, 4000.00, 1000.00, '2026-11-01')"
                )
                core.execute("insert into core.ic62 values (2, 202611, 4000.00, '2026-11-20')")
                core.commit()
            _sync(worker)
            events, sent = watch.run_round(hub, store, SETTINGS, NIGHT)
            hub.commit()
            assert sent == 2
            phone1 = "13900000001"  # core_rows.person: 1390000 + the person id in 4 digits
            phone2 = "13900000002"
            assert _sms(hub) == [(phone1, "card_status", {"status": "挂失"})]  # urgent: sent at night
            held = hub.execute("select person_id, sms_template, sms_due_at from hub.push_notice where kind = 'payment'")
            assert held.fetchall() == [(2, "benefit_paid", datetime(2026, 11, 28, 0, 0, tzinfo=UTC))]
            assert service.release_due(hub, datetime(2026, 11, 28, 0, 0, tzinfo=UTC)) == 1
            hub.commit()
            assert _sms(hub)[-1] == (
                phone2,
                "benefit_paid",
                {"month": "2026年11月", "amount": "4000.00", "paid_on": "2026年11月20日"},
            )
            # Nothing new: another round sends nothing, and a replay of the same events neither.
            assert watch.run_round(hub, store, SETTINGS, NIGHT) == (0, 0)
            hub.execute("update hub.push_cursor set last_event_id = 0")
            assert watch.run_round(hub, store, SETTINGS, NIGHT)[1] == 0
            hub.commit()
    finally:
        worker.close()


def test_urgency_enum_is_stored(dbs: Databases) -> None:
    with pg.connect(dbs.hub_url) as hub:
        n = service.Notice("k", 3, MessageKind.SYSTEM, "系统通知", "内容", urgency=Urgency.URGENT)
        assert service.notify(hub, n, phone=None, now=NOON, settings=SETTINGS) is not None
        assert hub.execute("select urgency from hub.push_notice").fetchone() == ("urgent",)
