"""Demo accounts for every role on a seeded province: created once, found again, and they log in."""

from __future__ import annotations

from core import seed as core_seed
from hub import pg
from hub.access.subject import SubjectKind
from hub.config.auth import AuthSettings
from hub.identity import clients, core_lookup, login
from hub.identity.config import IdentityConfig
from hub.identity.demo import DEMO_PASSWORD, create_demo_accounts
from tests.conftest import Databases
from tests.identity.idkit import T0


def test_demo_accounts_for_every_role(dbs: Databases) -> None:
    core_seed.seed(dbs.core_url, persons=80, years=1)
    settings = AuthSettings(redis_prefix="t:demo:")
    cfg = IdentityConfig.from_settings(settings)
    with pg.connect(dbs.hub_url) as hub, core_lookup.read_only(dbs.core_url) as core:
        rows = create_demo_accounts(hub, core, settings)
        again = create_demo_accounts(hub, core, settings)  # idempotent: same list, no duplicates
        assert again == rows
        roles = [r.role for r in rows]
        assert roles[:2] == ["在职参保人", "退休人员"]
        for expected in (
            "单位管理员（经办人）",
            "单位经办人",
            "经办机构审核员",
            "系统管理员（建账号）",
            "安全管理员（授权限）",
            "审计管理员（查审计日志）",
            "自助终端客户端",
            "12333热线客户端",
        ):
            assert expected in roles
        assert hub.execute("select count(*) from hub.account").fetchone() == (8,)
        by_role = {r.role: r for r in rows}
        # The working person and the retiree log in with their ID number and the demo password.
        for role, retired in (("在职参保人", False), ("退休人员", True)):
            creds = login.Credentials(SubjectKind.PERSON, by_role[role].login, DEMO_PASSWORD)
            account = login.check_password(hub, core, cfg, creds, source="ip:demo", now=T0)
            assert account.person_id is not None
            person = core_lookup.get_person(core, account.person_id)
            assert person is not None and person.retired is retired
        # The unit operator, by unit number.
        unit_note = by_role["单位经办人"].note
        unit_number = unit_note.split("单位编号 ", 1)[1].split(" ", 1)[0]
        creds = login.Credentials(SubjectKind.UNIT_OPERATOR, "jbr01", DEMO_PASSWORD, unit_code=unit_number)
        assert login.check_password(hub, core, cfg, creds, source="ip:demo", now=T0).unit_admin is False
        kiosk = clients.get(hub, "kiosk-demo-01")
        assert kiosk is not None and kiosk.check_secret(by_role["自助终端客户端"].password)
        assert all("outbox.jsonl" in r.note for r in rows if r.where.startswith("/auth/login"))
