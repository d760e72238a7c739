"""The identity service's policies, built once from the settings."""

from __future__ import annotations

from dataclasses import dataclass

from hub.config.auth import AuthSettings
from hub.identity.codes import CodePolicy
from hub.identity.lockout import LockoutPolicy
from hub.identity.passwords import PasswordPolicy


@dataclass(frozen=True)
class IdentityConfig:
    settings: AuthSettings
    codes: CodePolicy
    passwords: PasswordPolicy
    lockout: LockoutPolicy

    @classmethod
    def from_settings(cls, s: AuthSettings) -> IdentityConfig:
        return cls(
            s,
            CodePolicy.from_settings(s),
            PasswordPolicy.load(
                s.password_profile,
                history=s.password_history,
                max_age_days=s.password_max_age_days,
                breached_file=s.breached_passwords_file,
            ),
            LockoutPolicy.from_settings(s),
        )

    @property
    def hmac_key(self) -> str:
        return self.settings.code_hmac_key.get_secret_value()

    @property
    def kek(self) -> str:
        return self.settings.key_encryption_key.get_secret_value()
