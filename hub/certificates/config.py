"""Certificate settings (``HUB_CERTIFICATES__…``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field, SecretStr

# Development default; production must set its own (check_environment refuses it there).
DEV_MAC_KEY = "dev-only-certificate-mac-key-change-me"


class CertificateSettings(BaseModel):
    """Validity, verification and rendering of certificates."""

    model_config = {"frozen": True}

    valid_days: int = Field(30, ge=1, le=366, description="days a certificate can be verified after issue")
    keep_expired_days: int = Field(
        90, ge=0, description="days an expired certificate still answers 已过期 before its row is removed"
    )
    mac_key: SecretStr = Field(SecretStr(DEV_MAC_KEY), description="HMAC-SM3 key of the verification codes")
    verify_base_url: str = Field("http://127.0.0.1:8000/verify", description="public URL the QR code points at")
    verify_per_minute: float = Field(10.0, gt=0, description="verification attempts per minute and IP, sustained")
    verify_burst: int = Field(10, ge=1, description="verification attempts per IP at once")
    font_paths: tuple[Path, ...] = Field(
        (), description="fonts tried before the built-in list (TrueType/OpenType, .ttc with a subfont)"
    )
    issuer_name: str = Field("机关事业单位养老保险经办机构", description="issuer printed on certificates")

    def check_environment(self, environment: str) -> None:
        """Raise ValueError in production for the development MAC key or a verification URL without https."""
        if environment != "production":
            return
        problems = []
        if self.mac_key.get_secret_value() == DEV_MAC_KEY:
            problems.append("HUB_CERTIFICATES__MAC_KEY (development default)")
        if not self.verify_base_url.startswith("https://"):
            problems.append("HUB_CERTIFICATES__VERIFY_BASE_URL (must be https)")
        if problems:
            raise ValueError("production refuses certificate settings: " + ", ".join(problems))
