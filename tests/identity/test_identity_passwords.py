"""Password policy (等保 level 3 and ASVS profiles) and argon2id hashing: pure, no I/O."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from hub.identity.errors import WeakPassword
from hub.identity.passwords import PasswordPolicy, character_classes, hash_password, verify_password

DENGBAO = PasswordPolicy.load("dengbao3")
ASVS = PasswordPolicy.load("asvs")


def test_argon2id_hash_verifies_only_the_right_password() -> None:
    h = hash_password("Abcdefg1")
    assert h.startswith("$argon2id$")
    assert verify_password(h, "Abcdefg1")
    assert not verify_password(h, "Abcdefg2")
    assert not verify_password("not-a-hash", "Abcdefg1")
    assert hash_password("Abcdefg1") != h  # salted


@pytest.mark.parametrize(
    ("password", "classes"),
    [("abcdefgh", 1), ("abcdefg1", 2), ("Abcdefg1", 3), ("Abcdef1!", 4), ("密码Abc12", 4)],
)
def test_character_classes(password: str, classes: int) -> None:
    # 汉字 count as "other", like symbols: 密码 + A + bc + 12 is four classes.
    assert character_classes(password) == classes


def test_dengbao_profile_length_and_three_classes() -> None:
    assert DENGBAO.problems("Abcdefg1") == []  # 8 characters, 3 classes
    assert DENGBAO.problems("Abcdef1") == ["密码长度至少8位"]  # 7 characters
    assert DENGBAO.problems("abcdefg1") == ["密码须包含大写字母、小写字母、数字、特殊字符中的至少三类"]
    with pytest.raises(WeakPassword) as err:
        DENGBAO.check("abc")
    assert "密码长度至少8位" in err.value.detail and "至少三类" in err.value.detail


def test_dengbao_profile_refuses_the_last_five_passwords() -> None:
    history = [hash_password(f"Abcdefg{i}") for i in range(6, 0, -1)]  # newest first: 6, 5, 4, 3, 2, 1
    assert DENGBAO.problems("Abcdefg2", history) == ["不能使用最近5次用过的密码"]  # 5th newest
    assert DENGBAO.problems("Abcdefg1", history) == []  # 6th newest: allowed again
    assert DENGBAO.problems("Abcdefg7", history) == []


def test_dengbao_profile_reminds_after_180_days() -> None:
    changed = datetime(2026, 1, 1, tzinfo=UTC)
    # 2026-01-01 + 180 days = 2026-06-30 (31 + 28 + 31 + 30 + 31 = 151 days to 06-01, + 29).
    assert not DENGBAO.change_due(changed, datetime(2026, 6, 29, 23, 59, tzinfo=UTC))
    assert DENGBAO.change_due(changed, datetime(2026, 6, 30, tzinfo=UTC))
    assert not ASVS.change_due(changed, datetime(2030, 1, 1, tzinfo=UTC))  # ASVS: no forced change


def test_asvs_profile_length_breached_list_no_composition() -> None:
    assert ASVS.problems("correct horse battery") == []  # 21 characters, one class: fine under ASVS
    assert ASVS.problems("Abcdefgh123") == ["密码长度至少12位"]  # 11 characters
    assert ASVS.problems("Password@123") == ["该密码已出现在泄露密码库中，请换一个"]
    assert ASVS.problems("x" * 129) == ["密码长度不能超过128位"]
    history = [hash_password("correct horse battery")]
    assert ASVS.problems("correct horse battery", history) == []  # no reuse rule in this profile


def test_asvs_profile_reads_a_breached_file(tmp_path: Path) -> None:
    listed = tmp_path / "breached.txt"
    listed.write_text("zhangsan19800517\n\n", encoding="utf-8")
    policy = PasswordPolicy.load("asvs", breached_file=listed)
    assert policy.problems("zhangsan19800517") == ["该密码已出现在泄露密码库中，请换一个"]
    assert policy.problems("zhangsan19800518") == []
