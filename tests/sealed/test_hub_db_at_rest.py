"""No plaintext ID number, phone or bank account left in the hub DB after the write flows.

Declarations of every kind with personal numbers (登记, 信息变更, 单位银行账户与联系人, 年度缴费工资) go
submitted → reviewed → applied through the core's command API (a real process); a person changes their
mobile number and address (the request goes to the core) and applies for a 关系转移接续 with a contact
phone; a unit is collected online, reviewed, opened in the core and its activation code delivered. Then
every text, JSON and bytea column of every hub-DB table is scanned for every ID number, phone and bank
account the core now holds, and the transfer's contact phone.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

import pytest

from hub import pg
from hub.access.subject import Channel, Subject, SubjectKind
from hub.collect import service as collect
from hub.config.crypto import DEV_KEK
from hub.crypto import ring
from hub.declarations import service
from hub.declarations.config import DeclarationSettings
from hub.declarations.outbox import OutboxWorker
from hub.declarations.states import Status
from hub.declarations.types import DeclarationType as T
from hub.identity import core_lookup
from hub.ids import make_id_number
from hub.messaging import sealed as sealed_sms
from hub.persons import requests as pr
from hub.persons import transfers
from tests.collect.conftest import collection
from tests.declarations import kit
from tests.identity.idkit import config
from tests.persons_requests.conftest import Env, new_phone
from tests.portal.kit import PERSON_PW
from tests.sealed.scan import scan

NOW = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
NEW_ID = make_id_number("370102", date(1990, 3, 7), 21, "1")
REG_PHONE = "13700001111"
CHANGED_PHONE = "13800001111"
UNIT_PHONE = "13912345678"
BANK = "6222020000123456"
TRANSFER_PHONE = "13912340011"


@pytest.fixture(autouse=True)
def _dev_kek() -> Iterator[None]:
    ring.configure(DEV_KEK)
    yield
    ring.reset()


@pytest.fixture
def worker(env: Env, core_api: kit.CoreApi) -> Iterator[OutboxWorker]:
    dbs = env.world.dbs
    w = OutboxWorker(dbs.hub_url, dbs.query_url, DeclarationSettings(core_api_url=core_api.url))
    yield w
    w.close()


def through(env: Env, worker: OutboxWorker, type_: T, payload: dict[str, Any], key: str) -> None:
    world = env.world
    op, rev = kit.unit_operator(1), kit.reviewer()
    decl = service.create(world.hub, world.query, op, type_, payload, key, submit=True, now=kit.NOW)
    service.claim(world.hub, rev, decl.id, now=kit.NOW)
    service.approve(world.hub, rev, decl.id, now=kit.NOW)
    world.hub.commit()
    assert worker.step() == 1
    world.sync_round()
    done = service.get(world.hub, op, decl.id)
    assert done.status is Status.APPLIED, done.reason


def code_to(env: Env, phone: str) -> str:
    """The last code sent to ``phone``, read from the sealed SMS outbox."""
    with pg.connect(env.world.dbs.hub_url) as conn:
        sent = [m for m in sealed_sms.messages(conn) if m["recipient"] == phone and "code" in m["personalisation"]]
    assert sent, "no code was sent to this phone"
    return str(sent[-1]["personalisation"]["code"])


def core_secrets(core_url: str) -> set[str]:
    """Every ID number (both cases of the check character), phone and bank account the core holds."""
    with pg.connect(core_url) as core:
        persons = core.execute("select aac002, aac067 from core.ac01").fetchall()
        units = core.execute("select contact_phone, bank_account from core.ab01").fetchall()
    values = {str(v) for row in persons + units for v in row if v}
    return values | {v.lower() for v in values}


def flows(env: Env, worker: OutboxWorker) -> dict[str, Any]:
    world = env.world
    through(env, worker, T.PERSON_REGISTER,
            {"id_number": NEW_ID, "name": "孙七", "work_start": "2012-07-01", "phone": REG_PHONE}, "reg")  # fmt: skip
    through(env, worker, T.PERSON_CHANGE, {"person_id": 1, "phone": CHANGED_PHONE}, "chg")
    contact = {"contact_phone": UNIT_PHONE, "bank_name": "工商银行历下支行", "bank_account": BANK}
    through(env, worker, T.UNIT_CONTACT, contact, "contact")
    wages = [{"person_id": 1, "monthly_wage": "12000"}, {"person_id": 2, "monthly_wage": "3000"}]
    through(env, worker, T.ANNUAL_WAGE, {"year": 2025, "rows": wages}, "wage")

    # 联系方式变更 by the person, through to the core.
    account = str(env.h("select id from hub.account where person_id = 11")[0][0])
    me = Subject(SubjectKind.PERSON, account, "portal", Channel.PORTAL, frozenset(), person_id=11)
    phone = new_phone()
    sent = pr.send_contact_code(world.hub, env.redis, env.cfg, me, phone=phone, ip="10.0.0.1", now=NOW)
    world.hub.commit()
    pr.change_contact(world.hub, env.cfg, me, phone=phone, ticket=sent.ticket, code=code_to(env, phone),
                      password=PERSON_PW, idempotency_key="k-1", source="10.0.0.1", now=NOW,
                      address="济南市历下区泉城路100号", postal="250011")  # fmt: skip
    world.hub.commit()
    assert env.through_core() == 1

    # 关系转移接续: an application with its 联系电话 (a number the core never sees).
    transfers.apply(world.hub, world.query, me, transfers.TransferForm(
        direction="in", other_region_code="440100", other_region_name="广东省广州市", other_scheme="110",
        other_agency="广州市社会保险基金管理局", reason="工作调动到本地机关", contact_phone=TRANSFER_PHONE,
    ), NOW)  # fmt: skip
    world.hub.commit()

    # 数据采集 online → review → the core opens the unit → its activation code goes out.
    payload = collection()
    uscc = payload["unit"]["uscc"]
    decl = collect.submit(world.hub, world.query, payload, actor=collect.applicant(uscc, "web"), key="c-1", now=kit.NOW)
    rev = kit.reviewer()
    service.claim(world.hub, rev, decl.id, now=kit.NOW)
    service.approve(world.hub, rev, decl.id, now=kit.NOW)
    world.hub.commit()
    assert worker.step() == 1
    assert service.get(world.hub, rev, decl.id).status is Status.APPLIED
    with core_lookup.read_only(world.dbs.core_url) as core:
        assert collect.deliver_openings(world.hub, core, config(), now=kit.NOW) == 1
    world.hub.commit()
    world.sync_round()
    return {"phone": phone, "collection": payload}


def test_no_plaintext_number_is_left_in_the_hub_db(env: Env, worker: OutboxWorker) -> None:
    done = flows(env, worker)
    secrets = core_secrets(env.world.dbs.core_url)
    # What the flows wrote is in the core now (the scan is not vacuous).
    assert {NEW_ID, REG_PHONE, CHANGED_PHONE, UNIT_PHONE, BANK, done["phone"]} <= secrets
    assert done["collection"]["staff"][0]["id_number"] in secrets
    found = scan(env.world.dbs.hub_url, secrets | {TRANSFER_PHONE})
    assert found == {}, "\n".join(f"{k}: {len(v)}" for k, v in found.items())
