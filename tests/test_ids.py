"""Identifiers: 公民身份号码, 统一社会信用代码 and masking (hub/ids.py, DOMAIN.md §3, §6.2)."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st
from stdnum.cn import ric, uscc

from hub import ids
from hub.ids import InvalidIdentifier


def _with_check(first17: str) -> str:
    return first17 + ids.id_check_digit(first17)


# 公民身份号码 -----------------------------------------------------------------------------------


def test_domain_example_is_valid() -> None:
    # By hand, digits of 11010519491231002 times weights 7 9 10 5 8 4 2 1 6 3 7 9 10 5 8 4 2:
    # 7 + 9 + 0 + 5 + 0 + 20 + 2 + 9 + 24 + 27 + 7 + 18 + 30 + 5 + 0 + 0 + 4 = 167; 167 mod 11 = 2;
    # "10X98765432"[2] = "X" (DOMAIN.md §3.1).
    assert ids.id_check_digit("11010519491231002") == "X"
    assert ids.validate_id_number("11010519491231002X") == "11010519491231002X"
    assert ids.validate_id_number(" 11010519491231002x ") == "11010519491231002X"
    assert ids.is_valid_id_number("11010519491231002X")


def test_check_digit_by_hand() -> None:
    # 43012119800517008: 28 + 27 + 0 + 5 + 16 + 4 + 2 + 9 + 48 + 0 + 0 + 45 + 10 + 35 + 0 + 0 + 16 = 245;
    # 245 mod 11 = 3; "10X98765432"[3] = "9".
    assert ids.id_check_digit("43012119800517008") == "9"
    assert ids.validate_id_number("430121198005170089") == "430121198005170089"


@pytest.mark.parametrize(
    ("number", "reason", "message"),
    [
        ("110105194912310021", "checksum", "公民身份号码校验位不正确"),
        ("11010519491231002", "length", "公民身份号码长度应为18位"),
        ("1101051949123100AX", "format", "公民身份号码格式不正确"),
        (_with_check("11010519491331002"), "birth_date", "公民身份号码中的出生日期不正确"),
        (_with_check("99010519491231002"), "region", "公民身份号码中的地址码不存在或与出生年份不符"),
        # 430199 is no county; stdnum 2.2's ric.is_valid raises KeyError here instead of False.
        (_with_check("43019919800101001"), "region", "公民身份号码中的地址码不存在或与出生年份不符"),
        # 怀化市鹤城区 (431202) exists from 1997 only.
        (_with_check("43120219800101001"), "region", "公民身份号码中的地址码不存在或与出生年份不符"),
    ],
)
def test_invalid_id_numbers(number: str, reason: str, message: str) -> None:
    with pytest.raises(InvalidIdentifier) as caught:
        ids.validate_id_number(number)
    assert caught.value.reason == reason
    assert str(caught.value) == message
    assert isinstance(caught.value, ValueError)
    assert not ids.is_valid_id_number(number)


def test_make_id_number_sex_and_sequence() -> None:
    male = ids.make_id_number("430121", date(1980, 5, 17), 0, "1")
    female = ids.make_id_number("430121", date(1980, 5, 17), 0, "2")
    assert male[14:17] == "001" and female[14:17] == "002"
    assert ids.id_sex(male) == "1" and ids.id_sex(female) == "2"
    assert ids.make_id_number("430121", date(1980, 5, 17), ids.MAX_ID_SEQ, "2")[14:17] == "998"
    for bad_seq in (-1, ids.MAX_ID_SEQ + 1):
        with pytest.raises(ValueError, match="seq"):
            ids.make_id_number("430121", date(1980, 5, 17), bad_seq, "1")
    with pytest.raises(ValueError, match="sex"):
        ids.make_id_number("430121", date(1980, 5, 17), 0, "M")
    with pytest.raises(InvalidIdentifier):
        ids.make_id_number("431202", date(1980, 1, 1), 0, "1")  # 鹤城区 did not exist in 1980


@given(
    birth=st.dates(min_value=date(1940, 1, 1), max_value=date(2020, 12, 31)),
    seq=st.integers(0, ids.MAX_ID_SEQ),
    sex=st.sampled_from(["1", "2"]),
)
def test_made_numbers_pass_stdnum(birth: date, seq: int, sex: str) -> None:
    number = ids.make_id_number("110105", birth, seq, sex)  # 朝阳区: a code valid in every year
    assert ric.validate(number) == number
    assert ric.get_birth_date(number) == birth == ids.id_birth_date(number)
    assert ids.id_sex(number) == sex


# 统一社会信用代码 --------------------------------------------------------------------------------


def test_org_code_check_by_hand() -> None:
    # 12345678: 1·3 + 2·7 + 3·9 + 4·10 + 5·5 + 6·8 + 7·4 + 8·2 = 201; 201 mod 11 = 3; 11 − 3 = 8.
    assert ids.org_code_check("12345678") == "8"
    # 10 → X and 11 → 0.
    assert {ids.org_code_check(f"{n:08d}") for n in range(200)} >= {"X", "0"}


def test_known_uscc() -> None:
    assert ids.validate_uscc("91110000600037341L") == "91110000600037341L"
    assert ids.validate_uscc("9111 0000 6000 3734 1l") == "91110000600037341L"


@pytest.mark.parametrize(("kind", "seq"), [("11", 0), ("12", 12_345_678), ("11", 99_999_999), ("12", 7)])
def test_made_uscc_pass_stdnum(kind: str, seq: int) -> None:
    code = ids.make_uscc(kind, "430100", seq)
    assert code.startswith(kind + "430100")
    assert uscc.validate(code) == code
    assert ids.validate_uscc(code) == code


def test_invalid_uscc() -> None:
    good = ids.make_uscc("12", "430100", 12_345_678)
    wrong = good[:-1] + ("0" if good[-1] != "0" else "1")
    with pytest.raises(InvalidIdentifier) as caught:
        ids.validate_uscc(wrong)
    assert caught.value.reason == "checksum" and str(caught.value) == "统一社会信用代码校验位不正确"
    with pytest.raises(InvalidIdentifier) as caught:
        ids.validate_uscc(good[:-2])
    assert caught.value.reason == "length"
    with pytest.raises(InvalidIdentifier) as caught:
        ids.validate_uscc("12430100I2345678" + good[-2:])
    assert caught.value.reason == "format"


def test_uscc_org_code_checked_where_stdnum_does_not() -> None:
    # Same body with a wrong 组织机构代码 check character (9 instead of 8), USCC check recomputed.
    first17 = "12430100123456789"
    code = first17 + ids.uscc_check_char(first17)
    assert uscc.is_valid(code)  # stdnum ignores the GB 11714 check
    with pytest.raises(InvalidIdentifier) as caught:
        ids.validate_uscc(code)
    assert caught.value.reason == "org_checksum"
    assert ids.validate_uscc(code, check_org_code=False) == code


def test_letter_registration_authority_accepted() -> None:
    # 登记管理部门 N (农业): stdnum requires digits in the first 8 characters (DOMAIN.md §3.4).
    first17 = "N2430100" + "12345678" + ids.org_code_check("12345678")
    code = first17 + ids.uscc_check_char(first17)
    assert not uscc.is_valid(code)
    assert ids.is_valid_uscc(code)


# Masking -------------------------------------------------------------------------------------------


def test_masks() -> None:
    assert ids.mask_id_number("110105194912311234") == "110***********1234"
    assert ids.mask_id_number("11010519491231002X") == "110***********002X"
    assert ids.mask_id_number("1234567") == "*******"
    assert ids.mask_phone("13812341234") == "138****1234"
    assert ids.mask_phone("0731-84561234") == "*********1234"
    assert ids.mask_phone("123") == "***"
    assert ids.mask_name("张三") == "张*"
    assert ids.mask_name("欧阳明") == "欧*明"
    assert ids.mask_name("欧阳明明") == "欧*明"
    assert ids.mask_name("吉𠮷") == "吉*"  # 𠮷 (CJK Ext-B) is one code point
    assert ids.mask_name("𠮷") == "*"
    assert ids.mask_name("") == ""
