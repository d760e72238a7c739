"""`hub admin bootstrap` refusals are in the audit chain with their reason code: a role that is not one of
the three administrators, and a second holder of one; the message the installer sees is unchanged and
nothing else is written."""

from __future__ import annotations

from typer.testing import CliRunner, Result

from gateway.cli import app as cli
from hub import pg
from tests.conftest import Databases


def _bootstrap(dbs: Databases, login: str, role: str) -> Result:
    env = {
        "HUB_CORE_DB_URL": dbs.core_url,
        "HUB_HUB_DB_URL": dbs.hub_url,
        "HUB_QUERY_DB_URL": dbs.query_url,
        "HUB_REDIS_URL": dbs.redis_url,
        "HUB_ENVIRONMENT": "test",
    }
    return CliRunner().invoke(
        cli,
        ["admin", "bootstrap", "--login", login, "--name", "管理员", "--phone", "13800000001", "--role", role,
         "--region", "430102"],
        input="Sys@admin2026\nSys@admin2026\n",
        env=env,
    )  # fmt: skip


def _refusals(dbs: Databases) -> list[tuple[str, str, str, str]]:
    with pg.connect(dbs.hub_url) as conn:
        rows = conn.execute(
            "select action, actor, purpose, result from hub.audit_log where result = 'refused' order by chain_id, seq"
        ).fetchall()
    return [(str(a), str(b), str(c), str(d)) for a, b, c, d in rows]


def _accounts(dbs: Databases) -> list[str]:
    with pg.connect(dbs.hub_url) as conn:
        return [str(r[0]) for r in conn.execute("select login from hub.account order by login").fetchall()]


def test_refused_bootstraps_are_audited_with_their_reason(dbs: Databases) -> None:
    operator = _bootstrap(dbs, "op1", "operator")
    assert operator.exit_code == 1 and "安装时只能建立系统管理员、安全管理员和审计管理员" in operator.output
    assert _refusals(dbs) == [("account.install", "bootstrap", "not_admin_role:operator", "refused")]
    assert _accounts(dbs) == []

    first = _bootstrap(dbs, "sys1", "system_admin")
    assert first.exit_code == 0, first.output
    second = _bootstrap(dbs, "sys2", "system_admin")
    assert second.exit_code == 1 and "已有账号担任系统管理员" in second.output
    assert _refusals(dbs)[1:] == [("account.install", "bootstrap", "already_installed:system_admin", "refused")]
    assert _accounts(dbs) == ["sys1"]
