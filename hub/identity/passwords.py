"""Password hashing (argon2id) and the configurable password policy.

Two profiles:

- ``dengbao3`` (default, 等保2.0 level 3): at least 8 characters from at least 3 of the 4 classes
  (lower case, upper case, digits, other), none of the last ``history`` passwords again, a reminder to
  change after ``max_age_days``.
- ``asvs`` (ASVS 5.0 V6): at least 12 characters (at most 128), no composition rules, not on the
  breached-password list, no forced periodic change.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Literal

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from hub.identity.breached import COMMON_PASSWORDS
from hub.identity.errors import WeakPassword

# argon2id with the OWASP Password Storage Cheat Sheet minimum (m = 19 MiB, t = 2, p = 1): about 60 ms here,
# affordable at login peaks on small web nodes; argon2-cffi's default (64 MiB, t = 3, p = 4) took 0.5 s.
# ``verify_password`` accepts hashes made with other parameters (they are in the hash string).
_hasher = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1)

MAX_LENGTH = 128


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """True when ``password`` matches; never raises for a wrong password or a malformed hash."""
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


# A valid hash of a random password: checked when the login does not exist, so that the time taken
# does not tell whether an account exists.
DUMMY_HASH = _hasher.hash("dummy-password-for-timing-equalisation")


def character_classes(password: str) -> int:
    """How many of: ASCII lower case, ASCII upper case, ASCII digits, anything else (symbols, 汉字)."""
    lower = any("a" <= c <= "z" for c in password)
    upper = any("A" <= c <= "Z" for c in password)
    digit = any("0" <= c <= "9" for c in password)
    other = any(not ("a" <= c <= "z" or "A" <= c <= "Z" or "0" <= c <= "9") for c in password)
    return sum((lower, upper, digit, other))


@dataclass(frozen=True)
class PasswordPolicy:
    profile: Literal["dengbao3", "asvs"] = "dengbao3"
    history: int = 5
    max_age_days: int = 180
    breached: frozenset[str] = COMMON_PASSWORDS

    @classmethod
    def load(
        cls,
        profile: Literal["dengbao3", "asvs"],
        *,
        history: int = 5,
        max_age_days: int = 180,
        breached_file: Path | None = None,
    ) -> PasswordPolicy:
        breached = set(COMMON_PASSWORDS)
        if breached_file is not None:
            breached.update(
                line.strip() for line in breached_file.read_text(encoding="utf-8").splitlines() if line.strip()
            )
        return cls(profile, history, max_age_days, frozenset(breached))

    @property
    def min_length(self) -> int:
        return 12 if self.profile == "asvs" else 8

    def problems(self, password: str, previous_hashes: Iterable[str] = ()) -> list[str]:
        """Every rule ``password`` breaks, as Chinese sentences (empty when acceptable)."""
        found: list[str] = []
        if len(password) < self.min_length:
            found.append(f"密码长度至少{self.min_length}位")
        if len(password) > MAX_LENGTH:
            found.append(f"密码长度不能超过{MAX_LENGTH}位")
        if self.profile == "dengbao3":
            if character_classes(password) < 3:
                found.append("密码须包含大写字母、小写字母、数字、特殊字符中的至少三类")
            recent = list(previous_hashes)[: self.history]
            if any(verify_password(h, password) for h in recent):
                found.append(f"不能使用最近{self.history}次用过的密码")
        elif password.lower() in self.breached or password in self.breached:
            found.append("该密码已出现在泄露密码库中，请换一个")
        return found

    def check(self, password: str, previous_hashes: Iterable[str] = ()) -> None:
        """Raise WeakPassword (detail lists every broken rule) unless ``password`` is acceptable."""
        found = self.problems(password, previous_hashes)
        if found:
            raise WeakPassword("；".join(found))

    def change_due(self, changed_at: datetime, now: datetime) -> bool:
        """等保 profile: the password is older than ``max_age_days`` (a reminder, not a block)."""
        if self.profile == "asvs":
            return False
        return now - changed_at >= timedelta(days=self.max_age_days)
