"""`hub auth …`: key rotation, bootstrap staff, clients, prune — and the app refusing bypasses in production."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from gateway.app import create_app
from gateway.cli import app as cli
from hub import pg
from hub.config.auth import AuthSettings
from hub.runtime import Endpoints
from hub.settings import Settings
from tests.conftest import Databases


def _env(dbs: Databases) -> dict[str, str]:
    return {
        "HUB_CORE_DB_URL": dbs.core_url,
        "HUB_HUB_DB_URL": dbs.hub_url,
        "HUB_QUERY_DB_URL": dbs.query_url,
        "HUB_REDIS_URL": dbs.redis_url,
        "HUB_ENVIRONMENT": "test",
    }


def test_auth_commands(dbs: Databases) -> None:
    runner = CliRunner()
    env = _env(dbs)
    for _ in range(4):
        result = runner.invoke(cli, ["auth", "rotate-keys"], env=env)
        assert result.exit_code == 0, result.output
        assert "已生成新的签名密钥" in result.output
    with pg.connect(dbs.hub_url) as conn:
        live = conn.execute("select count(*) from hub.signing_key where retired_at is null").fetchone()
        retired = conn.execute("select count(*) from hub.signing_key where retired_at is not null").fetchone()
    assert (live, retired) == ((3,), (1,))  # signing_keys_kept = 3
    # The administrators come only from `hub admin bootstrap`, once per role.
    refused = runner.invoke(
        cli,
        ["auth", "create-staff", "--login", "sys0", "--name", "管理员", "--phone", "13800000009",
         "--role", "system_admin", "--region", "430102"],
        input="Sys@admin2026\nSys@admin2026\n",
        env=env,
    )  # fmt: skip
    assert refused.exit_code == 2 and "hub admin bootstrap" in refused.output
    result = runner.invoke(
        cli,
        [
            "admin",
            "bootstrap",
            "--login",
            "sys",
            "--name",
            "系统管理员",
            "--phone",
            "13800000001",
            "--role",
            "system_admin",
            "--region",
            "430102",
        ],
        input="Sys@admin2026\nSys@admin2026\n",
        env=env,
    )
    assert result.exit_code == 0, result.output
    second = runner.invoke(
        cli,
        ["admin", "bootstrap", "--login", "sys2", "--name", "另一人", "--phone", "13800000008",
         "--role", "system_admin", "--region", "430102"],
        input="Sys@admin2026\nSys@admin2026\n",
        env=env,
    )  # fmt: skip
    assert second.exit_code == 1 and "已有账号担任系统管理员" in second.output
    result = runner.invoke(
        cli,
        [
            "auth",
            "add-client",
            "--client-id",
            "partner-bank",
            "--name",
            "合作银行",
            "--channel",
            "partner",
            "--scope",
            "person:read",
            "--grant",
            "client_credentials",
        ],
        env=env,
    )
    assert result.exit_code == 0 and "密钥（仅显示一次）" in result.output
    result = runner.invoke(cli, ["auth", "prune"], env=env)
    assert result.exit_code == 0 and "已清理" in result.output
    with pg.connect(dbs.hub_url) as conn:
        roles = conn.execute("select a.login, r.role from hub.account a join hub.account_role r on r.account_id = a.id")
        assert roles.fetchall() == [("sys", "system_admin")]


def test_the_app_refuses_test_bypasses_in_production(dbs: Databases) -> None:
    fields = {
        "environment": "production",
        "core_db_url": dbs.core_url,
        "hub_db_url": dbs.hub_url,
        "query_db_url": dbs.query_url,
        "auth": AuthSettings(test_fixed_sms_code="000000"),
    }
    with pytest.raises(ValueError, match="HUB_AUTH__TEST_FIXED_SMS_CODE"):
        Settings(**fields)  # type: ignore[arg-type]
    # and the app checks again, even for settings that skipped validation
    unchecked = Settings.model_construct(**fields)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="HUB_AUTH__TEST_FIXED_SMS_CODE"):
        create_app(unchecked, Endpoints(dbs.core_url, dbs.hub_url, dbs.query_url, dbs.redis_url))


def test_keys_sealed_under_another_key_are_refused_clearly(dbs: Databases) -> None:
    from datetime import UTC, datetime

    from hub.identity import keys

    with pg.connect(dbs.hub_url) as conn:
        keys.rotate(conn, "key-a", datetime.now(UTC))
        conn.commit()
        assert keys.load(conn, "key-a") is not None
        with pytest.raises(keys.KeyDecryptionError, match="HUB_AUTH__KEY_ENCRYPTION_KEY"):
            keys.load(conn, "key-b")
