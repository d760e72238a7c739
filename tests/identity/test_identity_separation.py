"""三员分离: the system admin creates accounts, the security admin grants roles, the auditor only reads."""

from __future__ import annotations

import pyotp
import pytest

from hub.access.subject import Channel, StaffRole, Subject, SubjectKind
from hub.identity import accounts, admin, login
from hub.identity.crypto import unseal
from hub.identity.errors import Conflict, Forbidden, InvalidCredentials
from tests.conftest import Databases
from tests.identity.idkit import T0, config, connections

PW = "Staff@2026x"


def _staff_subject(account_id: str, *roles: StaffRole) -> Subject:
    return Subject(SubjectKind.STAFF, account_id, "portal-web", Channel.PORTAL, roles=frozenset(roles))


def test_each_administrator_does_only_their_own_job(dbs: Databases) -> None:
    cfg = config()
    with connections(dbs) as (hub, core, _r):
        ids = {
            role: admin.bootstrap_staff(
                hub,
                cfg,
                login=role.value,
                display_name=role.value,
                phone="13800000001",
                password=PW,
                role=role,
                region_codes=("430102",),
                now=T0,
            )
            for role in (StaffRole.SYSTEM_ADMIN, StaffRole.SECURITY_ADMIN, StaffRole.AUDITOR)
        }
        sysadmin = _staff_subject(ids[StaffRole.SYSTEM_ADMIN], StaffRole.SYSTEM_ADMIN)
        secadmin = _staff_subject(ids[StaffRole.SECURITY_ADMIN], StaffRole.SECURITY_ADMIN)
        auditor = _staff_subject(ids[StaffRole.AUDITOR], StaffRole.AUDITOR)

        def create(actor: Subject, login_name: str) -> str:
            return admin.create_staff(
                hub,
                cfg,
                actor,
                login=login_name,
                display_name="新员工",
                phone="13800000002",
                password=PW,
                region_codes=("430102",),
                now=T0,
            )

        # Only the system administrator creates accounts; they start without roles.
        new_id = create(sysadmin, "reviewer02")
        created = accounts.get(hub, new_id)
        assert created is not None and created.roles == frozenset()
        for actor in (secadmin, auditor):
            with pytest.raises(Forbidden):
                create(actor, "someone")
        with pytest.raises(Conflict):
            create(sysadmin, "reviewer02")
        # Only the security administrator grants roles.
        for actor in (sysadmin, auditor):
            with pytest.raises(Forbidden):
                admin.grant_role(hub, actor, new_id, StaffRole.REVIEWER, now=T0)
        admin.grant_role(hub, secadmin, new_id, StaffRole.REVIEWER, now=T0)
        granted = accounts.get(hub, new_id)
        assert granted is not None and granted.roles == frozenset({StaffRole.REVIEWER})
        # Not to themself, and never two administrator roles in one person.
        with pytest.raises(Forbidden):
            admin.grant_role(hub, secadmin, secadmin.account_id, StaffRole.AUDITOR, now=T0)
        with pytest.raises(Forbidden) as err:
            admin.grant_role(hub, secadmin, ids[StaffRole.SYSTEM_ADMIN], StaffRole.AUDITOR, now=T0)
        assert "三员分离" in err.value.detail
        admin.grant_role(hub, secadmin, new_id, StaffRole.AUDITOR, now=T0)  # reviewer + auditor: allowed
        with pytest.raises(Forbidden):
            admin.revoke_role(hub, sysadmin, new_id, StaffRole.AUDITOR)
        admin.revoke_role(hub, secadmin, new_id, StaffRole.AUDITOR)
        # Only the system administrator disables accounts; a disabled account cannot log in.
        for actor in (secadmin, auditor):
            with pytest.raises(Forbidden):
                admin.set_account_status(hub, actor, new_id, active=False)
        admin.set_account_status(hub, sysadmin, new_id, active=False)
        with pytest.raises(InvalidCredentials):
            login.check_password(
                hub, core, cfg, login.Credentials(SubjectKind.STAFF, "reviewer02", PW), source="ip:1", now=T0
            )
        admin.set_account_status(hub, sysadmin, new_id, active=True)
        assert (
            login.check_password(
                hub, core, cfg, login.Credentials(SubjectKind.STAFF, "reviewer02", PW), source="ip:2", now=T0
            ).id
            == new_id
        )
        # Only the auditor reads the audit log.
        assert admin.may_read_audit(auditor)
        assert not admin.may_read_audit(sysadmin) and not admin.may_read_audit(secadmin)


def test_unit_admin_manages_only_their_own_unit(dbs: Databases) -> None:
    cfg = config()
    with connections(dbs) as (hub, _, _r):
        sysadmin_id = admin.bootstrap_staff(
            hub,
            cfg,
            login="sys",
            display_name="系统管理员",
            phone="13800000001",
            password=PW,
            role=StaffRole.SYSTEM_ADMIN,
            region_codes=(),
            now=T0,
        )
        sysadmin = _staff_subject(sysadmin_id, StaffRole.SYSTEM_ADMIN)

        def op(actor: Subject, unit_id: int, name: str, is_admin: bool = False) -> str:
            return admin.create_unit_operator(
                hub,
                cfg,
                actor,
                unit_id=unit_id,
                login=name,
                display_name=name,
                phone="13800000003",
                password=PW,
                unit_admin=is_admin,
                now=T0,
            )

        admin_id = op(sysadmin, 7, "admin01", is_admin=True)  # the agency opens the unit with its administrator
        unit_admin = Subject(
            SubjectKind.UNIT_OPERATOR, admin_id, "portal-web", Channel.PORTAL, unit_id=7, unit_admin=True
        )
        op(unit_admin, 7, "jbr01")
        op(unit_admin, 7, "jbr02")
        with pytest.raises(Forbidden):
            op(unit_admin, 8, "jbr01")  # another unit
        with pytest.raises(Forbidden):
            op(unit_admin, 7, "admin02", is_admin=True)  # one administrator per unit, set by the agency
        operator = Subject(SubjectKind.UNIT_OPERATOR, "x", "portal-web", Channel.PORTAL, unit_id=7)
        with pytest.raises(Forbidden):
            op(operator, 7, "jbr03")  # an ordinary operator cannot add operators
        with pytest.raises(Forbidden):
            op(sysadmin, 7, "jbr04")  # the agency does not add ordinary operators either
        hub.commit()
        names = hub.execute("select login from hub.account where unit_id = 7 order by login").fetchall()
        assert [n[0] for n in names] == ["admin01", "jbr01", "jbr02"]


def test_staff_login_with_totp(dbs: Databases) -> None:
    cfg = config()
    with connections(dbs) as (hub, core, r):
        account_id = admin.bootstrap_staff(
            hub,
            cfg,
            login="auditor",
            display_name="审计",
            phone="13800000004",
            password=PW,
            role=StaffRole.AUDITOR,
            region_codes=(),
            now=T0,
        )
        uri = admin.enroll_totp(hub, cfg, account_id)
        hub.commit()
        assert uri.startswith("otpauth://totp/")
        account = accounts.get(hub, account_id)
        assert account is not None and account.totp_secret is not None
        secret = unseal(cfg.kek, account.totp_secret, account_id.encode()).decode()
        assert secret.encode() not in account.totp_secret  # stored encrypted
        challenge = login.start_login(
            hub, core, r, cfg, login.Credentials(SubjectKind.STAFF, "auditor", PW), source="ip:1", ip="1", now=T0
        )
        assert challenge.method == "totp" and challenge.phone_masked is None
        done = login.complete_login(
            hub, cfg, ticket=challenge.ticket, code=pyotp.TOTP(secret).at(T0), source="ip:1", now=T0
        )
        assert done.auth_methods == ("pwd", "otp")
