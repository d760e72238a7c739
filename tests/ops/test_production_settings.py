"""Production refuses debug output and the development key-encryption key; other environments allow them."""

from __future__ import annotations

from typing import Any

import pytest

from hub.settings import Settings

URLS = {"core_db_url": "postgresql://x/a", "hub_db_url": "postgresql://x/b", "query_db_url": "postgresql://x/c"}
PROD_AUTH = {
    "issuer": "https://ybj.example.gov.cn",
    "code_hmac_key": "a-real-production-key-0123456789",
    "key_encryption_key": "another-production-key-987654321",
    "audit_anchor_key": "audit-anchor-production-key-555",
}
PROD_CRYPTO = {"kek": "a-production-data-kek-0123456789"}
PROD_SMS = {"transport": "smpp", "smpp": {"system_id": "hub", "password": "a-real-bind-password"}}
PROD_CERTIFICATES = {
    "mac_key": "a-production-certificate-mac-key",
    "verify_base_url": "https://ybj.example.gov.cn/verify",
}


def _settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "environment": "production",
        **URLS,
        "auth": PROD_AUTH,
        "crypto": PROD_CRYPTO,
        "certificates": PROD_CERTIFICATES,
        "sms": PROD_SMS,
    }
    values.update(overrides)
    return Settings(**values)


def test_production_with_real_secrets_starts() -> None:
    assert _settings().environment == "production"


def test_production_refuses_the_development_kek() -> None:
    with pytest.raises(ValueError, match="HUB_CRYPTO__KEK"):
        _settings(crypto={})
    assert _settings(environment="test", crypto={}).crypto.kek.get_secret_value().startswith("dev-only")


def test_production_refuses_debug_logging() -> None:
    with pytest.raises(ValueError, match="HUB_LOG_LEVEL"):
        _settings(log_level="DEBUG")
    assert _settings(environment="development", log_level="DEBUG").log_level == "DEBUG"


def test_production_needs_explicit_databases() -> None:
    with pytest.raises(ValueError, match="explicit database URLs"):
        Settings(
            environment="production", auth=PROD_AUTH, crypto=PROD_CRYPTO, certificates=PROD_CERTIFICATES, sms=PROD_SMS
        )


def test_production_refuses_development_sms_settings() -> None:
    with pytest.raises(ValueError, match="HUB_SMS__TRANSPORT"):
        _settings(sms={})  # the file transport writes codes in clear
    with pytest.raises(ValueError, match="HUB_SMS__SMPP__PASSWORD"):
        _settings(sms={"transport": "smpp", "smpp": {"system_id": "hub", "password": ""}})


def test_the_sync_runs_in_the_web_process_only_outside_production() -> None:
    assert not _settings().sync_in_web_process  # unset: production runs `hub sync run` on its own
    assert _settings(sync={"embedded": False}).sync_in_web_process is False
    with pytest.raises(ValueError, match="HUB_SYNC__EMBEDDED"):
        _settings(sync={"embedded": True})  # two web nodes would each run a writer
    assert _settings(environment="development").sync_in_web_process  # the demo: one process does everything
    assert not _settings(environment="test", sync={"embedded": False}).sync_in_web_process
