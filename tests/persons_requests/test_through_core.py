"""Person requests through to the core's command API (a real process) and back through the query store.

The core applies 联系方式变更 to AC01.AAC067 and 挂失 / 解挂 to AC50.status (1 正常 → 2 挂失 → 1 正常); the
sync carries both into ``person_overview`` and ``card``; the hub's login phone follows the applied number.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from hub import pg
from hub.access.subject import Channel, Subject, SubjectKind
from hub.errors import Conflict, NotFound
from hub.identity import accounts, core_lookup
from hub.persons import requests as pr
from hub.persons import requests_outbox
from hub.persons.requests import RequestType, Status
from tests.persons_requests.conftest import Env, new_phone
from tests.portal.kit import PERSON_PW

NOW = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)


def person(env: Env, person_id: int, account_id: str) -> Subject:
    return Subject(SubjectKind.PERSON, account_id, "portal", Channel.PORTAL, frozenset(), person_id=person_id)


def account_of(env: Env, person_id: int) -> str:
    return str(env.h("select id from hub.account where person_id = %s", person_id)[0][0])


def requests_of(env: Env, person_id: int) -> list[tuple[object, ...]]:
    return env.h("select type, status from hub.person_request where person_id = %s order by id", person_id)


def test_contact_change_wrong_code_then_applied_and_idempotent(env: Env) -> None:
    me = person(env, 11, account_of(env, 11))
    phone = new_phone()
    hub = env.hub()
    sent = pr.send_contact_code(hub, env.redis, env.cfg, me, phone=phone, ip="10.0.0.1", now=NOW)
    hub.commit()
    assert sent.phone_masked == phone[:3] + "****" + phone[-4:]
    right = env.code_to(phone)  # the code went to the NEW number
    wrong = f"{(int(right) + 1) % 1_000_000:06d}"

    with pytest.raises(pr.Refused) as refused:
        pr.change_contact(hub, env.cfg, me, phone=phone, ticket=sent.ticket, code=wrong, password=PERSON_PW,
                          idempotency_key="k-1", source="10.0.0.1", now=NOW)  # fmt: skip
    hub.rollback()
    assert refused.value.status == 400 and "验证码错误" in refused.value.detail
    assert requests_of(env, 11) == []  # nothing written
    with pytest.raises(pr.Refused):  # the right code with a wrong login password
        pr.change_contact(hub, env.cfg, me, phone=phone, ticket=sent.ticket, code=right, password="Wrong@2026pw",
                          idempotency_key="k-1", source="10.0.0.1", now=NOW)  # fmt: skip
    hub.rollback()
    assert requests_of(env, 11) == []

    done = pr.change_contact(hub, env.cfg, me, phone=phone, ticket=sent.ticket, code=right, password=PERSON_PW,
                             idempotency_key="k-1", source="10.0.0.1", now=NOW)  # fmt: skip
    hub.commit()
    assert done.status is Status.SUBMITTED and done.type is RequestType.CONTACT_CHANGE
    # The same key again (a double click, a retry): the same request, nothing new, no second code needed.
    again = pr.change_contact(hub, env.cfg, me, phone=phone, ticket=sent.ticket, code="000000", password="",
                              idempotency_key="k-1", source="10.0.0.1", now=NOW)  # fmt: skip
    hub.commit()
    assert again.id == done.id and requests_of(env, 11) == [("contact_change", "submitted")]
    # The same key with another number is refused.
    with pytest.raises(Conflict):
        pr.change_contact(hub, env.cfg, me, phone=new_phone(), ticket=sent.ticket, code=right, password=PERSON_PW,
                          idempotency_key="k-1", source="10.0.0.1", now=NOW)  # fmt: skip
    hub.rollback()

    assert env.through_core() == 1
    assert requests_of(env, 11) == [("contact_change", "applied")]
    with core_lookup.read_only(env.world.dbs.core_url) as core:
        on_record = core_lookup.get_person(core, 11)
    assert on_record is not None and on_record.phone == phone  # AC01.AAC067 in the core
    found = accounts.find_person(hub, 11)
    assert found is not None and found.phone == phone  # the login phone followed
    _, events = pr.get_mine(hub, me, done.id)
    assert [(e.from_status, e.to_status) for e in events] == [
        (None, Status.SUBMITTED), (Status.SUBMITTED, Status.SENT), (Status.SENT, Status.APPLIED),
    ]  # fmt: skip
    # Sent once: a further round finds nothing, and the core recorded one command.
    assert env.through_core() == 0
    hub.rollback()
    with pg.connect(env.world.dbs.core_url) as core:
        assert core.execute("select count(*) from core.command_log where type = 'person_contact'").fetchone() == (1,)


def test_a_worker_dying_after_the_core_applied_never_applies_twice(env: Env) -> None:
    me = person(env, 11, account_of(env, 11))
    hub = env.hub()
    pr.report_card(hub, env.cfg, me, RequestType.CARD_LOSS, idempotency_key="l", source="s", now=NOW,
                   password=PERSON_PW)  # fmt: skip
    hub.commit()
    # A worker claims the request and the core applies it, but the worker dies before recording the answer.
    (due,) = env.outbox.claim()
    first = env.outbox.client.send(requests_outbox.body(due))
    assert first.status == "applied" and not first.replayed
    with pg.connect(env.world.dbs.hub_url) as conn:  # its lease runs out
        conn.execute("update hub.person_request set next_attempt_at = now() - interval '1 second'")
        conn.commit()
    # Another round sends the same command id again: the core answers the recorded outcome (a second 挂失
    # of a lost card would have failed with 已处于挂失状态).
    assert env.through_core() == 1
    assert requests_of(env, 11) == [("card_loss", "applied")]
    assert env.q("select status from card where person_id = 11") == [("2",)]
    # The late answer of the dead worker is not recorded a second time.
    assert env.outbox.record(due, first) is False


def test_card_loss_then_reversal_in_order(env: Env) -> None:
    me = person(env, 11, account_of(env, 11))
    hub = env.hub()
    loss = pr.report_card(hub, env.cfg, me, RequestType.CARD_LOSS, idempotency_key="loss-1", source="s", now=NOW,
                          password=PERSON_PW)  # fmt: skip
    # 解挂 by an SMS code to the phone on record (13900000011), queued behind the 挂失.
    with core_lookup.read_only(env.world.dbs.core_url) as core:
        sent = pr.send_card_code(hub, core, env.redis, env.cfg, me, ip="10.0.0.2", now=NOW)
    hub.commit()
    unloss = pr.report_card(hub, env.cfg, me, RequestType.CARD_UNLOSS, idempotency_key="unloss-1", source="s",
                            now=NOW, ticket=sent.ticket, code=env.code_to("13900000011"))  # fmt: skip
    hub.commit()
    # One round: the 挂失 goes first; the 解挂 waits until the 挂失 is answered (same person, order kept).
    assert env.through_core() == 1
    assert env.q("select status from card where person_id = 11") == [("2",)]
    assert env.through_core() == 1
    assert env.q("select status from card where person_id = 11") == [("1",)]
    assert [r.status for r in pr.list_mine(hub, me)] == [Status.APPLIED, Status.APPLIED]
    assert {loss.id, unloss.id} == {r.id for r in pr.list_mine(hub, me)}
    # A second 解挂 of a card that is 正常: the core refuses with its reason, nothing changes.
    third = pr.report_card(hub, env.cfg, me, RequestType.CARD_UNLOSS, idempotency_key="unloss-2", source="s",
                           now=NOW, password=PERSON_PW)  # fmt: skip
    hub.commit()
    env.through_core()
    item, _ = pr.get_mine(hub, me, third.id)
    assert item.status is Status.FAILED and item.reason == "社会保障卡未挂失，无需解挂"
    assert env.q("select status from card where person_id = 11") == [("1",)]
    hub.rollback()


def test_a_person_cannot_see_or_use_another_persons_request(env: Env) -> None:
    me = person(env, 11, account_of(env, 11))
    other = person(env, 12, account_of(env, 12))
    hub = env.hub()
    mine = pr.report_card(hub, env.cfg, me, RequestType.CARD_LOSS, idempotency_key="x", source="s", now=NOW,
                          password=PERSON_PW)  # fmt: skip
    hub.commit()
    with pytest.raises(NotFound) as foreign:
        pr.get_mine(hub, other, mine.id)
    with pytest.raises(NotFound) as missing:
        pr.get_mine(hub, other, mine.id + 1000)
    assert foreign.value.problem() == missing.value.problem()
    assert pr.list_mine(hub, other) == []
    # The other person's password does not confirm for them with my account's subject either.
    forged = person(env, 12, account_of(env, 11))
    with pytest.raises(NotFound):
        pr.report_card(hub, env.cfg, forged, RequestType.CARD_LOSS, idempotency_key="y", source="s", now=NOW,
                       password=PERSON_PW)  # fmt: skip
    hub.rollback()
    assert requests_of(env, 12) == []
