"""Identifiers: 公民身份号码 (GB 11643-1999), 统一社会信用代码 (GB 32100-2015) and display masking.

Validation delegates to python-stdnum where it is right (DOMAIN.md §3.4) and adds what it does not
check: stdnum's ``cn.uscc`` ignores the check character of the embedded 组织机构代码 (GB 11714) and
refuses codes whose 登记管理部门 is a letter, so the USCC check here is our own.

Error messages are user-facing and in Simplified Chinese; ``InvalidIdentifier.reason`` is a stable
English key for programs.
"""

from __future__ import annotations

from datetime import date
from typing import Literal

from stdnum import exceptions as stdnum_exceptions
from stdnum.cn import ric

Reason = Literal["length", "format", "checksum", "birth_date", "region", "org_checksum"]

# GB 11643-1999 / ISO 7064 MOD 11-2: weight of position i (0-based, left to right) is 2^(17-i) mod 11.
_RIC_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_RIC_CHECK = "10X98765432"

# GB 32100-2015: 31 characters (no I, O, Z, S, V) and the weights 3^i mod 31.
_USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)

# GB 11714-1997 组织机构代码: 8 body characters (digits or A-Z) and a MOD 11 check character.
_ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)
_ORG_BODY_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"

USCC_DEPT_KINDS = frozenset({"11", "12"})  # 机构编制: 11 机关, 12 事业单位 (DOMAIN.md §3.2)


class InvalidIdentifier(ValueError):
    """An identifier failed validation; ``str(exc)`` is a Chinese message for the user."""

    def __init__(self, message: str, reason: Reason) -> None:
        super().__init__(message)
        self.message = message
        self.reason: Reason = reason


def _compact(value: str) -> str:
    return "".join(value.split()).replace("-", "").upper()


# 公民身份号码 -----------------------------------------------------------------------------------


def id_check_digit(first17: str) -> str:
    """The check character for the first 17 digits (ISO 7064 MOD 11-2)."""
    if len(first17) != 17 or not first17.isascii() or not first17.isdigit():
        raise ValueError("需要17位数字本体码")
    total = sum(int(c) * w for c, w in zip(first17, _RIC_WEIGHTS, strict=True))
    return _RIC_CHECK[total % 11]


def validate_id_number(value: str) -> str:
    """Return the compact 18-character number (upper-case X) or raise ``InvalidIdentifier``.

    Checks length, digits, the check character, the birth date (a real calendar date) and the
    address code against stdnum's GB/T 2260 table for the birth year (DOMAIN.md §3.4: invented
    region codes fail). Blanks and hyphens are ignored and a lower-case x is accepted.
    """
    number = _compact(value)
    if len(number) != 18:
        raise InvalidIdentifier("公民身份号码长度应为18位", "length")
    if not (number[:17].isascii() and number[:17].isdigit()) or not (number[17].isdigit() or number[17] == "X"):
        raise InvalidIdentifier("公民身份号码格式不正确", "format")
    if number[17] != id_check_digit(number[:17]):
        raise InvalidIdentifier("公民身份号码校验位不正确", "checksum")
    try:
        ric.get_birth_date(number)
    except stdnum_exceptions.ValidationError:
        raise InvalidIdentifier("公民身份号码中的出生日期不正确", "birth_date") from None
    try:
        ric.get_birth_place(number)
    except (stdnum_exceptions.ValidationError, KeyError):
        # stdnum 2.2 raises KeyError (not InvalidComponent) for an unknown county code under a
        # known province, e.g. 430199; ric.is_valid() therefore raises instead of returning False.
        raise InvalidIdentifier("公民身份号码中的地址码不存在或与出生年份不符", "region") from None
    return number


def is_valid_id_number(value: str) -> bool:
    try:
        validate_id_number(value)
    except InvalidIdentifier:
        return False
    return True


def id_birth_date(number: str) -> date:
    """The birth date encoded in a (valid) number."""
    n = _compact(number)
    return date(int(n[6:10]), int(n[10:12]), int(n[12:14]))


def id_sex(number: str) -> str:
    """'1' male or '2' female, from the parity of the 17th digit."""
    return "1" if int(_compact(number)[16]) % 2 == 1 else "2"


MAX_ID_SEQ = 498


def make_id_number(region: str, birth: date, seq: int, sex: str, *, check: bool = True) -> str:
    """Build a number: address code + birth date + order code + check character.

    The 3-digit order code is ``2 * seq + 1`` for men (sex '1', odd) and ``2 * seq + 2`` for women
    (sex '2', even), so ``seq`` runs 0..498 and order codes 001..998. With ``check`` (the default)
    the result is validated, which also proves the address code existed in the birth year.
    """
    if sex not in ("1", "2"):
        raise ValueError(f"sex must be '1' or '2', got {sex!r}")
    if not 0 <= seq <= MAX_ID_SEQ:
        raise ValueError(f"seq must be 0..{MAX_ID_SEQ}, got {seq}")
    if len(region) != 6 or not region.isdigit():
        raise ValueError(f"region must be a 6-digit code, got {region!r}")
    order = 2 * seq + (1 if sex == "1" else 2)
    body = f"{region}{birth:%Y%m%d}{order:03d}"
    number = body + id_check_digit(body)
    return validate_id_number(number) if check else number


# 统一社会信用代码 --------------------------------------------------------------------------------


def org_code_check(body8: str) -> str:
    """GB 11714 check character of an 8-character 组织机构代码 body: 11 − Σ mod 11, 10 → X, 11 → 0."""
    if len(body8) != 8 or any(c not in _ORG_BODY_ALPHABET for c in body8):
        raise ValueError("组织机构代码本体应为8位数字或大写字母")
    total = sum(_ORG_BODY_ALPHABET.index(c) * w for c, w in zip(body8, _ORG_WEIGHTS, strict=True))
    check = 11 - total % 11
    return "X" if check == 10 else "0" if check == 11 else str(check)


def uscc_check_char(first17: str) -> str:
    """GB 32100 check character for the first 17 characters."""
    if len(first17) != 17 or any(c not in _USCC_ALPHABET for c in first17):
        raise ValueError("需要17位统一社会信用代码本体")
    total = sum(_USCC_ALPHABET.index(c) * w for c, w in zip(first17, _USCC_WEIGHTS, strict=True))
    return _USCC_ALPHABET[(31 - total % 31) % 31]


def validate_uscc(value: str, *, check_org_code: bool = True) -> str:
    """Return the compact code or raise ``InvalidIdentifier``.

    Unlike ``stdnum.cn.uscc`` this accepts a letter as 登记管理部门 (A, N, Y …) and, with
    ``check_org_code``, also verifies the GB 11714 check character of characters 9–17.
    """
    code = _compact(value)
    if len(code) != 18:
        raise InvalidIdentifier("统一社会信用代码长度应为18位", "length")
    if any(c not in _USCC_ALPHABET for c in code) or not code[2:8].isdigit():
        raise InvalidIdentifier("统一社会信用代码含有非法字符或区划码不正确", "format")
    if code[17] != uscc_check_char(code[:17]):
        raise InvalidIdentifier("统一社会信用代码校验位不正确", "checksum")
    if check_org_code and code[16] != org_code_check(code[8:16]):
        raise InvalidIdentifier("统一社会信用代码中的组织机构代码校验位不正确", "org_checksum")
    return code


def is_valid_uscc(value: str) -> bool:
    try:
        validate_uscc(value)
    except InvalidIdentifier:
        return False
    return True


def make_uscc(dept_kind: str, region: str, org_seq: int) -> str:
    """A code for a 机关 ('11') or 事业单位 ('12') registered in ``region``.

    The 组织机构代码 body is ``org_seq`` as 8 digits followed by its GB 11714 check character, so
    the result passes both ``validate_uscc`` and ``stdnum.cn.uscc.validate``.
    """
    if dept_kind not in USCC_DEPT_KINDS:
        raise ValueError(f"dept_kind must be one of {sorted(USCC_DEPT_KINDS)}, got {dept_kind!r}")
    if len(region) != 6 or not region.isdigit():
        raise ValueError(f"region must be a 6-digit code, got {region!r}")
    if not 0 <= org_seq <= 99_999_999:
        raise ValueError(f"org_seq must be 0..99999999, got {org_seq}")
    body = f"{org_seq:08d}"
    first17 = f"{dept_kind}{region}{body}{org_code_check(body)}"
    return first17 + uscc_check_char(first17)


# Masking (DOMAIN.md §6.2) ------------------------------------------------------------------------


def mask_id_number(value: str) -> str:
    """'110***********1234': first 3 and last 4 characters kept, the rest starred."""
    if len(value) <= 7:
        return "*" * len(value)
    return value[:3] + "*" * (len(value) - 7) + value[-4:]


def mask_phone(value: str) -> str:
    """'138****1234' for an 11-digit mobile number; other lengths keep at most the last 4."""
    if len(value) == 11:
        return value[:3] + "****" + value[-4:]
    if len(value) <= 4:
        return "*" * len(value)
    return "*" * (len(value) - 4) + value[-4:]


def mask_name(value: str) -> str:
    """'张*' for two characters, '欧*明' (first + * + last) for three or more, '*' for one.

    Python indexes by code point, so a CJK Ext-B character such as 𠮷 counts as one character.
    """
    if len(value) <= 1:
        return "*" * len(value)
    if len(value) == 2:
        return value[0] + "*"
    return value[0] + "*" + value[-1]
