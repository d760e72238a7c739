"""Replies of the 12333 hotline written as they are spoken, for text-to-speech or an agent to read.

Numbers are read in everyday spoken Chinese (小写 numerals, not the 大写 of cheques): 一千二百三十四元五角六分,
一千零五元, 十元 (not 一十元 at the start), 一万零一元, 十万零一百元, 一亿零一元. Zeros follow the usual
rules: a run of zeros inside a number is read as one 零, trailing zeros are silent, and a four-digit
section (万, 亿) below one thousand after a higher section starts with 零. Whole amounts end in 整 unless
asked not to. Years are read digit by digit (二〇二六年), months and days as numbers (十一月五日).
"""

from __future__ import annotations

from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from hub.rules.period import Period

DIGITS = "零一二三四五六七八九"
YEAR_DIGITS = "〇一二三四五六七八九"
_SMALL_UNITS = ("", "十", "百", "千")
_SECTION_UNITS = ("", "万", "亿", "万亿")
_FEN = Decimal("0.01")


def _section(n: int) -> str:
    """0 < n < 10000 read without a leading 零 (一千零五, 一百一十, 十二 read as 一十二 here)."""
    out: list[str] = []
    zero_pending = False
    for position in range(3, -1, -1):
        digit = n // 10**position % 10
        if digit == 0:
            zero_pending = bool(out)
            continue
        if zero_pending:
            out.append("零")
            zero_pending = False
        out.append(DIGITS[digit] + _SMALL_UNITS[position])
    return "".join(out)


def number(n: int) -> str:
    """A whole number as spoken: 0 → 零, 10 → 十, 15 → 十五, 110 → 一百一十, 10001 → 一万零一."""
    if n < 0:
        return "负" + number(-n)
    if n == 0:
        return "零"
    if n >= 10**16:
        raise ValueError(f"{n} is too large to read aloud")
    sections: list[int] = []
    while n:
        sections.append(n % 10000)
        n //= 10000
    out: list[str] = []
    zero_pending = False
    for index in range(len(sections) - 1, -1, -1):
        value = sections[index]
        if value == 0:
            zero_pending = bool(out)
            continue
        if out and (zero_pending or value < 1000):
            out.append("零")
        zero_pending = False
        out.append(_section(value) + _SECTION_UNITS[index])
    text = "".join(out)
    # 一十 is said 十 only at the very start (十五, 十万), never inside (一百一十).
    return text[1:] if text.startswith("一十") else text


def amount(value: Decimal, *, zheng: bool = True) -> str:
    """An amount of money in yuan, rounded to the fen: 1234.56 → 一千二百三十四元五角六分, 10 → 十元整."""
    if isinstance(value, float):
        raise TypeError("money must be Decimal, not float")
    fen_total = int((Decimal(value).quantize(_FEN, rounding=ROUND_HALF_UP) * 100).to_integral_value())
    if fen_total < 0:
        return "负" + amount(Decimal(-fen_total) / 100, zheng=zheng)
    yuan, rest = divmod(fen_total, 100)
    jiao, fen = divmod(rest, 10)
    if rest == 0:
        return number(yuan) + "元" + ("整" if zheng else "")
    out = ""
    if yuan:
        out = number(yuan) + "元"
    if jiao:
        out += DIGITS[jiao] + "角"
    elif yuan:
        out += "零"  # 十元零五分
    if fen:
        out += DIGITS[fen] + "分"
    return out


def year(y: int) -> str:
    """二〇二六年."""
    if y < 0:
        raise ValueError(f"year must not be negative, got {y}")
    return "".join(YEAR_DIGITS[int(d)] for d in str(y)) + "年"


def month(period: Period) -> str:
    """二〇二六年十一月."""
    return year(period.year) + number(period.month) + "月"


def day(d: date) -> str:
    """二〇二六年十一月五日."""
    return month(Period.of(d)) + number(d.day) + "日"


def months(count: int) -> str:
    """A duration in months: 一百二十个月; whole years are said as years: 十年."""
    if count < 0:
        raise ValueError(f"count must not be negative, got {count}")
    years, rest = divmod(count, 12)
    if years and not rest:
        return number(years) + "年"
    if years:
        return number(years) + "年零" + number(rest) + "个月"
    return number(rest) + "个月"


# Replies ------------------------------------------------------------------------------------------

MENU = (
    "查询个人账户余额请按一，查询最近一次缴费请按二，查询最近一次养老金发放请按三，"
    "查询社保卡状态请按四，重听请按九，返回上级菜单请按星号键。"
)


def balance_reply(account_label: str, as_of_year: int, balance: Decimal) -> str:
    """您的基本养老保险个人账户截至二〇二五年年底储存额为……"""
    return f"您的{account_label}截至{year(as_of_year)}年底，储存额为{amount(balance)}。"


def contribution_reply(period: Period, base: Decimal, person_amount: Decimal, unit_amount: Decimal) -> str:
    return (
        f"您最近一次缴费所属期为{month(period)}，缴费基数{amount(base)}，"
        f"个人缴费{amount(person_amount)}，单位缴费{amount(unit_amount)}。"
    )


def payment_reply(period: Period, paid: Decimal, paid_on: date | None) -> str:
    when = f"，已于{day(paid_on)}发放" if paid_on else ""
    return f"您{month(period)}的养老金为{amount(paid)}{when}。"


def card_reply(status: str, issued_on: date | None) -> str:
    """社保卡 status as the core names it (正常, 挂失, 注销)."""
    since = f"，发卡日期为{day(issued_on)}" if issued_on else ""
    return f"您的社会保障卡状态为{status}{since}。"


def no_record_reply(what: str) -> str:
    return f"暂未查询到您的{what}记录。"
