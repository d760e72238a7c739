"""Identity events go into the SM3 audit chain: one record per event, and the chain still verifies."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import psycopg
import pytest

from hub import pg
from hub.access.subject import Channel, StaffRole, Subject, SubjectKind
from hub.audit import sync_writer
from hub.audit.verify import verify
from hub.identity import admin, keys, login, registration
from hub.identity.errors import InvalidCode, InvalidCredentials
from tests.conftest import Databases
from tests.identity.idkit import T0, build_core, config, connections, last_code

PW = "Staff@2026x"
PERSON_PW = "Zhang@2026a"
KEK = "test key encryption key"


def _records(hub: psycopg.Connection[Any]) -> list[tuple[str, str, str, str, str]]:
    rows = hub.execute(
        "select action, result, actor_kind, actor, target_id from hub.audit_log where chain_id = %s order by seq",
        (sync_writer.CHAIN_ID,),
    ).fetchall()
    hub.commit()
    return [(str(a), str(b), str(c), str(d), str(e)) for a, b, c, d, e in rows]


def _actions(hub: psycopg.Connection[Any], start: int) -> list[tuple[str, str]]:
    return [(r[0], r[1]) for r in _records(hub)[start:]]


def _verifies(url: str, expected_rows: int) -> None:
    with pg.connect(url) as conn:
        rows, findings = verify(conn, None)
    assert findings == []
    assert rows == expected_rows


def test_each_identity_event_writes_one_record_and_the_chain_verifies(dbs: Databases) -> None:
    core_rows = build_core(dbs.core_url)
    zhang = core_rows.persons["zhang"]
    cfg = config(lockout_source_failures=2, lockout_global_failures=3)
    with connections(dbs) as (hub, core, r):
        # Installation: account creation and the role, by the bootstrap.
        sysadmin_id = admin.bootstrap_staff(
            hub,
            cfg,
            login="sys",
            display_name="系统管理员",
            phone="13800000001",
            password=PW,
            role=StaffRole.SYSTEM_ADMIN,
            region_codes=("430102",),
            now=T0,
        )
        secadmin_id = admin.bootstrap_staff(
            hub,
            cfg,
            login="sec",
            display_name="安全管理员",
            phone="13800000002",
            password=PW,
            role=StaffRole.SECURITY_ADMIN,
            region_codes=("430102",),
            now=T0,
        )
        hub.commit()
        assert _actions(hub, 0) == [("account.create", "ok"), ("role.grant", "ok")] * 2
        sysadmin = Subject(
            SubjectKind.STAFF, sysadmin_id, "portal-web", Channel.PORTAL, roles=frozenset({StaffRole.SYSTEM_ADMIN})
        )
        secadmin = Subject(
            SubjectKind.STAFF, secadmin_id, "portal-web", Channel.PORTAL, roles=frozenset({StaffRole.SECURITY_ADMIN})
        )

        # Account creation, role grant and disable by the administrators.
        n = len(_records(hub))
        staff_id = admin.create_staff(
            hub,
            cfg,
            sysadmin,
            login="reviewer01",
            display_name="审核员",
            phone="13800000003",
            password=PW,
            region_codes=("430102",),
            now=T0,
        )
        hub.commit()
        admin.grant_role(hub, secadmin, staff_id, StaffRole.REVIEWER, now=T0)
        hub.commit()
        admin.set_account_status(hub, sysadmin, staff_id, active=False)
        hub.commit()
        records = _records(hub)[n:]
        assert [(a, res, actor, target) for a, res, _k, actor, target in records] == [
            ("account.create", "ok", sysadmin_id, staff_id),
            ("role.grant", "ok", secadmin_id, staff_id),
            ("account.disable", "ok", sysadmin_id, staff_id),
        ]

        # Key rotation.
        n = len(_records(hub))
        kid = keys.rotate(hub, KEK, T0)
        hub.commit()
        assert [(r[0], r[4]) for r in _records(hub)[n:]] == [("keys.rotate", kid)]

        # Registration.
        n = len(_records(hub))
        sent = registration.start_registration(
            hub,
            core,
            r,
            cfg,
            document_type="01",
            document_number=zhang.id_number,
            name=zhang.name,
            ip="1.1.1.1",
            now=T0,
        )
        assert _actions(hub, n) == []  # asking for a code is not yet an event
        account = registration.complete_registration(
            hub, core, cfg, ticket=sent.ticket, code=last_code(hub, str(zhang.phone)), password=PERSON_PW, now=T0
        )
        assert [(a, res, k, actor) for a, res, k, actor, _t in _records(hub)[n:]] == [
            ("auth.register", "ok", "person", account.id)
        ]

        # Logins: an unknown login, a wrong password, a wrong code, a success.
        n = len(_records(hub))
        creds = login.Credentials(SubjectKind.PERSON, zhang.id_number, PERSON_PW)
        with pytest.raises(InvalidCredentials):
            login.check_password(
                hub, core, cfg, login.Credentials(SubjectKind.PERSON, "nobody", "x"), source="ip:1.1.1.1", now=T0
            )
        with pytest.raises(InvalidCredentials):
            login.check_password(
                hub,
                core,
                cfg,
                login.Credentials(SubjectKind.PERSON, zhang.id_number, "Wrong@pass1"),
                source="ip:1.1.1.1",
                now=T0,
            )
        later = T0 + timedelta(minutes=1)
        challenge = login.start_login(hub, core, r, cfg, creds, source="ip:1.1.1.2", ip="1.1.1.2", now=later)
        with pytest.raises(InvalidCode):
            login.complete_login(hub, cfg, ticket=challenge.ticket, code="not-it", source="ip:1.1.1.2", now=later)
        code = last_code(hub, str(zhang.phone))
        done = login.complete_login(hub, cfg, ticket=challenge.ticket, code=code, source="ip:1.1.1.2", now=later)
        assert done.account.id == account.id
        assert _actions(hub, n) == [
            ("auth.login", "failed"),
            ("auth.login", "failed"),
            ("auth.login", "code_failed"),
            ("auth.login", "ok"),
        ]
        assert _records(hub)[n][2:4] == ("anonymous", "")

        # Lockout: two failures lock the source, the third failure locks the account everywhere.
        n = len(_records(hub))
        wrong = login.Credentials(SubjectKind.PERSON, zhang.id_number, "Wrong@pass1")
        for _ in range(3):
            with pytest.raises(InvalidCredentials):
                login.check_password(hub, core, cfg, wrong, source="ip:1.1.1.3", now=later)
        assert _actions(hub, n) == [
            ("auth.login", "failed"),
            ("auth.login", "failed"),
            ("auth.login", "locked"),
            ("auth.lockout", "locked"),
        ]

        # Password reset (which also lifts the lock).
        n = len(_records(hub))
        later += timedelta(minutes=2)  # past the resend cooldown
        reset = registration.start_reset(hub, core, r, cfg, account, ip="1.1.1.1", now=later)
        registration.complete_reset(
            hub, cfg, ticket=reset.ticket, code=last_code(hub, str(zhang.phone)), password="Zhang@2026b", now=later
        )
        assert _actions(hub, n) == [("auth.password_reset", "ok")]
        total = len(_records(hub))
    _verifies(dbs.hub_url, total)


def test_a_rolled_back_event_leaves_no_gap(dbs: Databases) -> None:
    cfg = config()
    with connections(dbs) as (hub, _core, _r):
        keys.rotate(hub, KEK, T0)
        hub.rollback()
        admin.bootstrap_staff(
            hub,
            cfg,
            login="sys",
            display_name="系统管理员",
            phone="13800000001",
            password=PW,
            role=StaffRole.SYSTEM_ADMIN,
            region_codes=("430102",),
            now=T0,
        )
        hub.commit()
        assert [r[0] for r in _records(hub)] == ["account.create", "role.grant"]
    _verifies(dbs.hub_url, 2)
