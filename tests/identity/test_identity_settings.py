"""Production refuses test-only bypasses and development secrets."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from hub.config.auth import AuthSettings

PROD_OK = {
    "issuer": "https://ybj.example.gov.cn",
    "code_hmac_key": SecretStr("a-real-production-key-0123456789"),
    "key_encryption_key": SecretStr("another-production-key-987654321"),
    "audit_anchor_key": SecretStr("audit-anchor-production-key-555"),
}


def test_production_settings_without_bypasses_pass() -> None:
    AuthSettings(**PROD_OK).check_environment("production")


@pytest.mark.parametrize(
    ("override", "named"),
    [
        ({"test_fixed_captcha": "AAAA"}, "HUB_AUTH__TEST_FIXED_CAPTCHA"),
        ({"test_fixed_sms_code": "123456"}, "HUB_AUTH__TEST_FIXED_SMS_CODE"),
        ({"code_hmac_key": SecretStr("dev-only-code-hmac-key-change-me")}, "HUB_AUTH__CODE_HMAC_KEY"),
        ({"issuer": "http://ybj.example.gov.cn"}, "HUB_AUTH__ISSUER"),
        ({"cookie_secure": False}, "HUB_AUTH__COOKIE_SECURE"),
        ({"audit_anchor_key": None}, "HUB_AUTH__AUDIT_ANCHOR_KEY"),
    ],
)
def test_production_refuses_each_bypass(override: dict[str, object], named: str) -> None:
    settings = AuthSettings(**{**PROD_OK, **override})
    with pytest.raises(ValueError, match=named):
        settings.check_environment("production")
    settings.check_environment("test")  # tests and development may use them


def test_bypasses_from_the_environment_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    from hub.settings import Settings

    monkeypatch.setenv("HUB_ENVIRONMENT", "production")
    monkeypatch.setenv("HUB_AUTH__TEST_FIXED_SMS_CODE", "000000")
    # Settings refuses to exist at all, so no production process can start with a bypass.
    with pytest.raises(ValueError, match="TEST_FIXED_SMS_CODE"):
        Settings(core_db_url="postgresql://x/a", hub_db_url="postgresql://x/b", query_db_url="postgresql://x/c")
