"""Encryption-at-rest settings (``HUB_CRYPTO__…``)."""

from __future__ import annotations

from pydantic import BaseModel, Field, SecretStr

DEV_KEK = "dev-only-data-key-encryption-key-change-me"


class CryptoSettings(BaseModel):
    """The key-encryption key that wraps the data and blind-index keys kept in the hub DB."""

    model_config = {"frozen": True}

    kek: SecretStr = Field(
        SecretStr(DEV_KEK), description="wraps the SM4 data keys and the blind-index key (refused in production)"
    )
    rotate_batch: int = Field(1000, ge=1, description="rows re-encrypted per transaction by `hub keys rotate`")

    def check_environment(self, environment: str) -> None:
        if environment == "production" and self.kek.get_secret_value() == DEV_KEK:
            raise ValueError("production refuses the development HUB_CRYPTO__KEK")
