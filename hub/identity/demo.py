"""Ready-made demo accounts for every role, printed by ``hub demo``.

Idempotent: a second run finds the accounts and clients and prints the same logins and passwords; a demo
client the security administrator disabled stays disabled (and is listed as such). SMS codes are not
printed here: in the embedded mode every message is appended to ``var/sms/outbox.jsonl``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg

from hub.access.subject import Channel, StaffRole, SubjectKind
from hub.config.auth import AuthSettings
from hub.identity import accounts, admin, clients, core_lookup, subjects
from hub.identity.config import IdentityConfig
from hub.identity.passwords import hash_password

# Demo only (``hub demo`` on a development machine): known passwords and client secrets.
DEMO_PASSWORD = "Demo@2026pension"  # noqa: S105  (16 characters, four classes: passes both profiles)
DEMO_SECRETS = {
    "kiosk-demo-01": "kiosk-demo-secret-2026",
    "hotline-12333": "hotline-demo-secret-2026",
    "portal": "portal-demo-secret-2026",
}
SMS_HINT = "短信验证码见 var/sms/outbox.jsonl（内嵌模式）"
APP_REDIRECT = "cn.gov.hrss.app12333:/oauth/callback"
PORTAL_REDIRECT = "http://127.0.0.1:8000/portal/oauth/callback"


@dataclass(frozen=True)
class DemoAccount:
    role: str  # what it is, in Chinese (e.g. 在职参保人)
    login: str  # what to type in the login form (document number, login name or client id)
    password: str  # the password or client secret
    where: str  # which login form or grant to use
    note: str = ""  # unit code, SMS hint, …


def _pick_person(core: psycopg.Connection[Any], retired: bool) -> core_lookup.CorePerson | None:
    rows = core.execute(
        "select aac001 from core.ac01 where aac058 = '01' and aac084 = %s and aac067 ~ '^1[3-9][0-9]{9}$' "
        "order by aac001 limit 1",
        ("1" if retired else "0",),
    ).fetchall()
    return core_lookup.get_person(core, int(rows[0][0])) if rows else None


def _person_account(
    conn: psycopg.Connection[Any], cfg: IdentityConfig, person: core_lookup.CorePerson, now: datetime
) -> None:
    if accounts.find_person(conn, person.person_id) is not None:
        return
    accounts.insert(
        conn,
        kind=SubjectKind.PERSON,
        login=accounts.person_login(cfg.hmac_key, person.document_type, person.document_number),
        display_name=person.name,
        password_hash=hash_password(DEMO_PASSWORD),
        now=now,
        phone=person.phone,
        person_id=person.person_id,
        region_codes=(person.region_code,),
        created_by="demo",
    )


def _staff(
    conn: psycopg.Connection[Any], cfg: IdentityConfig, login: str, name: str, phone: str, role: StaffRole, region: str
) -> None:
    if accounts.find(conn, SubjectKind.STAFF, login) is None:
        admin.bootstrap_staff(
            conn,
            cfg,
            login=login,
            display_name=name,
            phone=phone,
            password=DEMO_PASSWORD,
            role=role,
            region_codes=(region,),
            now=datetime.now(UTC),
        )


def _client(conn: psycopg.Connection[Any], client_id: str, **kwargs: Any) -> str:
    """Register a demo client unless it exists; its status. An existing one, even disabled by the security
    administrator, is left as it is (the listing says so)."""
    status = clients.status_of(conn, client_id)
    if status is None:
        clients.register(conn, client_id=client_id, now=datetime.now(UTC), **kwargs)
        return "active"
    return status


DISABLED_NOTE = "该客户端已被停用，安全管理员可在 /portal/admin/clients 启用"


def create_demo_accounts(
    hub_conn: psycopg.Connection[Any], core_conn: psycopg.Connection[Any], settings: AuthSettings | None = None
) -> list[DemoAccount]:
    """Create (or find) the demo accounts and clients; commits ``hub_conn``; reads ``core_conn`` only.

    Pass the process's ``settings.auth`` so that person logins use the configured HMAC key.
    """
    cfg = IdentityConfig.from_settings(settings or AuthSettings())
    now = datetime.now(UTC)
    out: list[DemoAccount] = []
    for retired, label in ((False, "在职参保人"), (True, "退休人员")):
        person = _pick_person(core_conn, retired)
        if person is None:
            continue
        _person_account(hub_conn, cfg, person, now)
        out.append(DemoAccount(label, person.document_number, DEMO_PASSWORD, "/auth/login?kind=person", SMS_HINT))

    unit_row = core_conn.execute("select aab001 from core.ab01 order by aab001 limit 1").fetchone()
    region = "430100"
    if unit_row is not None:
        unit = core_lookup.find_unit(core_conn, str(unit_row[0]))
        assert unit is not None
        region = unit.region_code
        for login, name, is_admin, phone, label in (
            ("admin01", "单位管理员", True, "13800000011", "单位管理员（经办人）"),
            ("jbr01", "单位经办人", False, "13800000012", "单位经办人"),
        ):
            if accounts.find(hub_conn, SubjectKind.UNIT_OPERATOR, login, unit_id=unit.unit_id) is None:
                admin.insert_unit_operator(
                    hub_conn, cfg, unit.unit_id, login, name, phone, DEMO_PASSWORD, is_admin, now, "demo"
                )
            out.append(
                DemoAccount(
                    label,
                    login,
                    DEMO_PASSWORD,
                    "/auth/login?kind=unit_operator",
                    f"单位编号 {unit.unit_id} 或统一社会信用代码 {unit.uscc}（{unit.name}）；{SMS_HINT}",
                )
            )

    for login, name, phone, role, label in (
        ("reviewer01", "审核员", "13800000021", StaffRole.REVIEWER, "经办机构审核员"),
        ("sysadmin", "系统管理员", "13800000022", StaffRole.SYSTEM_ADMIN, "系统管理员（建账号）"),
        ("secadmin", "安全管理员", "13800000023", StaffRole.SECURITY_ADMIN, "安全管理员（授权限）"),
        ("auditor", "审计管理员", "13800000024", StaffRole.AUDITOR, "审计管理员（查审计日志）"),
    ):
        _staff(hub_conn, cfg, login, name, phone, role, region)
        out.append(DemoAccount(label, login, DEMO_PASSWORD, "/auth/login?kind=staff", SMS_HINT))

    person_scopes = sorted(subjects.PERSON_SCOPES)
    kiosk = _client(
        hub_conn,
        "kiosk-demo-01",
        name="自助终端（演示）",
        channel=Channel.KIOSK,
        grant_types=[clients.CLIENT_CREDENTIALS],
        scopes=person_scopes,
        secret=DEMO_SECRETS["kiosk-demo-01"],
    )
    hotline = _client(
        hub_conn,
        "hotline-12333",
        name="12333热线系统（演示）",
        channel=Channel.HOTLINE,
        grant_types=[clients.CLIENT_CREDENTIALS],
        scopes=[s for s in person_scopes if s != "card:read"],
        secret=DEMO_SECRETS["hotline-12333"],
    )
    app = _client(
        hub_conn,
        "app-12333",
        name="掌上12333",
        channel=Channel.APP,
        grant_types=[clients.AUTHORIZATION_CODE, clients.REFRESH_TOKEN],
        scopes=person_scopes,
        redirect_uris=[APP_REDIRECT],
        public=True,
    )
    _client(
        hub_conn,
        "portal",
        name="网上服务大厅",
        channel=Channel.PORTAL,
        grant_types=[clients.AUTHORIZATION_CODE, clients.REFRESH_TOKEN],
        scopes=sorted(subjects.ALL_SCOPES),
        redirect_uris=[PORTAL_REDIRECT],
        secret=DEMO_SECRETS["portal"],
    )

    def note(status: str, text: str = "") -> str:
        return text if status == "active" else "；".join(t for t in (text, DISABLED_NOTE) if t)

    out.append(
        DemoAccount(
            "自助终端客户端",
            "kiosk-demo-01",
            DEMO_SECRETS["kiosk-demo-01"],
            "POST /oauth/token client_credentials",
            note(kiosk),
        )
    )
    out.append(
        DemoAccount(
            "12333热线客户端",
            "hotline-12333",
            DEMO_SECRETS["hotline-12333"],
            "POST /oauth/token client_credentials",
            note(hotline),
        )
    )
    out.append(DemoAccount("掌上12333（公开客户端）", "app-12333", "", "授权码 + PKCE(S256)", note(app, APP_REDIRECT)))
    hub_conn.commit()
    return out
