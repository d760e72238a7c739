"""Person registration with the real-name check against the core, and password reset by SMS code."""

from __future__ import annotations

from datetime import timedelta

import pytest

from hub import pg
from hub.access.subject import SubjectKind
from hub.identity import accounts, login, registration
from hub.identity.errors import (
    AlreadyRegistered,
    InvalidCode,
    InvalidIdentifierError,
    NoPhoneOnRecord,
    RealNameMismatch,
    WeakPassword,
)
from tests.conftest import Databases
from tests.identity.idkit import T0, build_core, config, connections, last_code, sent_messages

PASSWORD = "Zhang@2026a"


def test_registration_sends_the_code_to_the_core_phone_and_binds_the_person(dbs: Databases) -> None:
    core_rows = build_core(dbs.core_url)
    zhang = core_rows.persons["zhang"]
    cfg = config()
    with connections(dbs) as (hub, core, r):
        sent = registration.start_registration(
            hub,
            core,
            r,
            cfg,
            document_type="01",
            document_number=zhang.id_number.lower(),
            name=" 张 三 ",
            ip="1.1.1.1",
            now=T0,
        )
        assert sent.phone_masked == "139****5678"
        [message] = sent_messages(hub)
        assert message["to"] == zhang.phone and message["template"] == "register_code"
        code = last_code(hub, "13912345678")
        account = registration.complete_registration(
            hub, core, cfg, ticket=sent.ticket, code=code, password=PASSWORD, now=T0 + timedelta(seconds=30)
        )
        assert account.kind is SubjectKind.PERSON
        assert account.person_id == zhang.person_id
        assert account.display_name == "张三"
        assert account.login != zhang.id_number and zhang.id_number not in account.login  # a blind index
        # Logging in with the number works (first factor).
        creds = login.Credentials(SubjectKind.PERSON, zhang.id_number, PASSWORD)
        assert login.check_password(hub, core, cfg, creds, source="ip:1.1.1.1", now=T0).id == account.id
        with pytest.raises(AlreadyRegistered):
            registration.start_registration(
                hub,
                core,
                r,
                cfg,
                document_type="01",
                document_number=zhang.id_number,
                name="张三",
                ip="1.1.1.1",
                now=T0 + timedelta(minutes=2),
            )


def test_wrong_name_and_unknown_person_get_the_same_refusal(dbs: Databases) -> None:
    core_rows = build_core(dbs.core_url)
    zhang = core_rows.persons["zhang"]
    cfg = config()
    with connections(dbs) as (hub, core, r):
        for number, name in ((zhang.id_number, "张四"), ("110105198005170076", "张三")):
            with pytest.raises(RealNameMismatch) as err:
                registration.start_registration(
                    hub, core, r, cfg, document_type="01", document_number=number, name=name, ip="1.1.1.1", now=T0
                )
            assert err.value.title == "证件号码与姓名不匹配"
        assert sent_messages(hub) == []


def test_no_or_wrong_phone_on_record_is_told_to_go_to_a_counter_or_kiosk(dbs: Databases) -> None:
    core_rows = build_core(dbs.core_url)
    cfg = config()
    with connections(dbs) as (hub, core, r):
        for key in ("wang", "zhao"):  # no phone; a landline that cannot receive SMS
            p = core_rows.persons[key]
            with pytest.raises(NoPhoneOnRecord) as err:
                registration.start_registration(
                    hub,
                    core,
                    r,
                    cfg,
                    document_type="01",
                    document_number=p.id_number,
                    name=p.name,
                    ip="1.1.1.1",
                    now=T0,
                )
            assert "经办机构窗口或自助终端" in err.value.title
        assert sent_messages(hub) == []


def test_invalid_numbers_and_other_document_types(dbs: Databases) -> None:
    core_rows = build_core(dbs.core_url)
    zhang = core_rows.persons["zhang"]
    bad_check = zhang.id_number[:17] + ("0" if zhang.id_number[17] != "0" else "1")
    cfg = config()
    with connections(dbs) as (hub, core, r):
        with pytest.raises(InvalidIdentifierError) as err:
            registration.start_registration(
                hub, core, r, cfg, document_type="01", document_number=bad_check, name="张三", ip="1.1.1.1", now=T0
            )
        assert err.value.detail == "公民身份号码校验位不正确"
    # A 港澳台居民居住证 (830000…, check character by GB 11643) registered in the core as type 06.
    number = "83000019900101002"
    from hub.ids import id_check_digit

    number += id_check_digit(number)
    with pg.connect(dbs.core_url) as conn:
        conn.execute(
            "insert into core.ac01 (aac001, aac058, aac002, aac003, aac004, aac006, aac007, aac067, aaa027) "
            "values (2001, '06', %s, '陈大文', '2', '1990-01-01', '2015-07-01', '13600001111', '430102')",
            (number,),
        )
        conn.commit()
    with connections(dbs) as (hub, core, r):
        sent = registration.start_registration(
            hub, core, r, cfg, document_type="06", document_number=number, name="陈大文", ip="1.1.1.2", now=T0
        )
        assert sent.phone_masked == "136****1111"
        with pytest.raises(InvalidIdentifierError):
            registration.start_registration(
                hub,
                core,
                r,
                cfg,
                document_type="06",
                document_number=number[:17] + "Y",
                name="陈大文",
                ip="1.1.1.2",
                now=T0,
            )


def test_weak_password_keeps_the_code_and_reset_by_sms(dbs: Databases) -> None:
    core_rows = build_core(dbs.core_url)
    li = core_rows.persons["li"]
    cfg = config()
    with connections(dbs) as (hub, core, r):
        sent = registration.start_registration(
            hub, core, r, cfg, document_type="01", document_number=li.id_number, name=li.name, ip="1.1.1.1", now=T0
        )
        code = last_code(hub, "13887654321")
        with pytest.raises(WeakPassword):
            registration.complete_registration(hub, core, cfg, ticket=sent.ticket, code=code, password="short", now=T0)
        account = registration.complete_registration(
            hub, core, cfg, ticket=sent.ticket, code=code, password=PASSWORD, now=T0
        )
        # Reset: the code goes to the phone the core holds; the old password may not come back.
        creds = login.Credentials(SubjectKind.PERSON, li.id_number, "")
        found = login.resolve(hub, core, cfg, creds)
        assert found is not None and found.id == account.id
        later = T0 + timedelta(minutes=10)
        reset = registration.start_reset(hub, core, r, cfg, found, ip="1.1.1.1", now=later)
        reset_code = last_code(hub, "13887654321")
        with pytest.raises(WeakPassword) as err:
            registration.complete_reset(hub, cfg, ticket=reset.ticket, code=reset_code, password=PASSWORD, now=later)
        assert "不能使用最近5次用过的密码" in err.value.detail
        registration.complete_reset(hub, cfg, ticket=reset.ticket, code=reset_code, password="Li@newpass1", now=later)
        with pytest.raises(InvalidCode):  # single use
            registration.complete_reset(
                hub, cfg, ticket=reset.ticket, code=reset_code, password="Li@newpass2", now=later
            )
        updated = accounts.get(hub, account.id)
        assert updated is not None and updated.password_changed_at == later
        # An unknown account gets a ticket that never verifies, and no SMS is sent.
        before = len(sent_messages(hub))
        ghost = registration.start_reset(hub, core, r, cfg, None, ip="1.1.1.1", now=later)
        assert len(sent_messages(hub)) == before
        with pytest.raises(InvalidCode):
            registration.complete_reset(hub, cfg, ticket=ghost.ticket, code="000000", password="Li@newpass3", now=later)
