"""Authentication and access settings (``HUB_AUTH__…``).

Defaults meet 等保2.0 level 3 (DOMAIN.md §6.1); ``password_profile = "asvs"`` switches the password
rules to ASVS 5.0. The test-only bypasses (a fixed captcha answer, a fixed SMS code) exist so that
demos and tests can log in without reading images; ``check_environment`` refuses them in production.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr

# Development defaults; production must set its own (check_environment refuses these values there).
DEV_CODE_KEY = "dev-only-code-hmac-key-change-me"
DEV_KEY_ENCRYPTION_KEY = "dev-only-key-encryption-key-change-me"


class AuthSettings(BaseModel):
    """Identity, OAuth server, password, SMS-code and lockout settings."""

    model_config = {"frozen": True}

    issuer: str = Field("http://127.0.0.1:8000", description="public base URL of the authorization server (iss)")
    audience: str = Field("hub", description="aud of the access tokens")
    access_token_ttl_seconds: int = Field(300, ge=30, le=3600)
    refresh_token_ttl_seconds: int = Field(30 * 24 * 3600, ge=300)
    auth_code_ttl_seconds: int = Field(60, ge=10, le=600)
    signing_keys_kept: int = Field(3, ge=2, description="keys published in the JWKS (newest signs)")
    verified_token_entries: int = Field(
        20_000,
        ge=0,
        description="access tokens each web process remembers as verified (least recently used go first; 0: "
        "every request checks the signature); size it above the tokens a process sees within a few minutes",
    )

    # Passwords.
    password_profile: Literal["dengbao3", "asvs"] = "dengbao3"  # noqa: S105
    password_history: int = Field(5, ge=0, description="等保 profile: the last N passwords may not be reused")
    password_max_age_days: int = Field(180, ge=1, description="等保 profile: remind to change after N days")
    breached_passwords_file: Path | None = Field(None, description="ASVS profile: one breached password a line")
    temporary_password_days: int = Field(
        3, ge=1, le=30, description="an administrator-issued password: change at first login, refused after N days"
    )

    # SMS verification codes (DOMAIN.md §5).
    code_ttl_seconds: int = Field(300, ge=30)
    code_max_checks: int = Field(5, ge=1)
    code_resend_seconds: int = Field(60, ge=0)
    code_daily_per_phone: int = Field(10, ge=1)
    code_daily_per_ip: int = Field(50, ge=1)
    code_hmac_key: SecretStr = SecretStr(DEV_CODE_KEY)
    key_encryption_key: SecretStr = Field(
        SecretStr(DEV_KEY_ENCRYPTION_KEY), description="encrypts the signing keys and TOTP secrets at rest"
    )
    redis_prefix: str = Field("hub:auth:", description="prefix of every Redis key of this area")
    audit_anchor_key: SecretStr | None = Field(
        None, description="signs the audit chain's anchors; required in production (a development key otherwise)"
    )

    # Lockout (等保 8.1.4.1 b).
    lockout_source_failures: int = Field(5, ge=1)
    lockout_source_minutes: int = Field(15, ge=1)
    lockout_global_failures: int = Field(20, ge=1)

    # Portal sessions.
    session_idle_minutes: int = Field(30, ge=1)
    session_absolute_hours: int = Field(10, ge=1)
    session_cookie: str = "hub_session"
    cookie_secure: bool | None = Field(
        None, description="mark cookies Secure; unset: Secure everywhere except in development (required in production)"
    )
    csrf_max_age_seconds: int = Field(4 * 3600, ge=60, description="how long a form's CSRF token stays valid")

    # Test-only bypasses: never on in production.
    test_fixed_captcha: str | None = Field(None, description="TEST ONLY: this answer passes every captcha")
    test_fixed_sms_code: str | None = Field(None, description="TEST ONLY: every SMS code is this value")

    def secure_cookies(self, environment: str) -> bool:
        """Whether cookies carry the Secure flag (and the CSRF cookie the ``__Host-`` prefix)."""
        if self.cookie_secure is not None:
            return self.cookie_secure
        return environment != "development"

    def check_environment(self, environment: str) -> None:
        """Raise ValueError when ``environment`` is production and a bypass or development secret is set."""
        if environment != "production":
            return
        problems = []
        if self.test_fixed_captcha is not None:
            problems.append("HUB_AUTH__TEST_FIXED_CAPTCHA")
        if self.test_fixed_sms_code is not None:
            problems.append("HUB_AUTH__TEST_FIXED_SMS_CODE")
        if self.code_hmac_key.get_secret_value() == DEV_CODE_KEY:
            problems.append("HUB_AUTH__CODE_HMAC_KEY (development default)")
        if self.audit_anchor_key is None:
            problems.append("HUB_AUTH__AUDIT_ANCHOR_KEY (missing)")
        if self.key_encryption_key.get_secret_value() == DEV_KEY_ENCRYPTION_KEY:
            problems.append("HUB_AUTH__KEY_ENCRYPTION_KEY (development default)")
        if not self.issuer.startswith("https://"):
            problems.append("HUB_AUTH__ISSUER (must be https)")
        if self.cookie_secure is False:
            problems.append("HUB_AUTH__COOKIE_SECURE")
        if problems:
            raise ValueError("production refuses test-only or development auth settings: " + ", ".join(problems))
