"""Staff-written notices and their lists (sms.notice), without a database: limits, headers, masking."""

from __future__ import annotations

import pytest

from hub.wagefile.config import WagefileSettings
from hub.wagefile.errors import FileTooLarge, MissingColumns, NoData, TooManyRows
from sms import notice

SIGNATURE = "湖南社保"


def checked(body: str, mandatory: bool = True) -> notice.Notice:
    return notice.notice(body, mandatory=mandatory, signature=SIGNATURE)


def read(data: str, body: str = "{姓名}您好。", **limits: int) -> notice.NoticeList:
    return notice.read_list(
        data.encode(), checked(body), WagefileSettings(**limits), mandatory=True, signature=SIGNATURE
    )


def test_fields_are_taken_from_their_columns_and_personal_data_is_masked() -> None:
    n = checked("{姓名}（{身份证号码}）您好，您的{事项}已办结。")
    assert n.fields == ("姓名", "身份证号码", "事项")
    found = read(
        "备注,事项,身份证号码,姓名,手机号码\n无,退休申请,430102199001011234,欧阳明月,13912345678\n",
        "{姓名}（{身份证号码}）您好，您的{事项}已办结。",
    )
    assert found.ok and len(found.recipients) == 1
    # the name as mask_name (first + * + last), the ID number as mask_id_number; other values as written
    content = found.recipients[0].personalisation["content"]
    assert content.startswith("欧*月（") and content.endswith("）您好，您的退休申请已办结。")
    assert "430102199001011234" not in content and "明月" not in content
    assert found.recipients[0].phone == "13912345678"


def test_the_header_may_sit_below_a_title_row_and_blank_rows_are_skipped() -> None:
    found = read("2026年通知名单,\n手机号码,姓名\n\n13912345678,张三\n,\n")
    assert [r.phone for r in found.recipients] == ["13912345678"]


def test_whole_file_limits() -> None:
    rows = "手机号码,姓名\n" + "".join(f"1391234{i:04d},张三\n" for i in range(3))
    with pytest.raises(TooManyRows):
        read(rows, max_rows=2)
    with pytest.raises(FileTooLarge):
        read(rows, max_file_bytes=20)
    with pytest.raises(MissingColumns, match="姓名"):
        read("手机号码\n13912345678\n")
    with pytest.raises(NoData):
        read("手机号码,姓名\n")


def test_a_value_or_a_filled_text_too_long_is_a_row_error() -> None:
    long_value = "很" * (notice.MAX_VALUE_CHARS + 1)
    found = read(f"手机号码,姓名\n13912345678,{long_value}\n")
    assert [e.code for e in found.errors] == ["value_format"] and not found.recipients
    # 5 segments at most: 【湖南社保】 (6) + text; a body of 300 units plus 60 filled in is 366 > 335
    body = "请" * 300 + "{事项}"
    found = read(f"手机号码,事项\n13912345678,{'办' * 60}\n13912345679,办\n", body)
    assert [(e.row, e.code) for e in found.errors] == [(2, "too_long")]
    assert [r.phone for r in found.recipients] == ["13912345679"]  # 6 + 301 = 307 ≤ 335


@pytest.mark.parametrize(
    "body",
    ["请回复{", "含有换行\n的正文", "【通知】请核对", "动态码为{码}", "{a}{b}{c}{d}{e}{f}{g}{h}{i}{j}{k}", "请" * 330],
)
def test_texts_refused(body: str) -> None:
    with pytest.raises(notice.NoticeError):
        checked(body)


def test_the_opt_out_hint_counts_for_a_notice_that_is_not_mandatory() -> None:
    # 【湖南社保】 6 + 323 = 329 ≤ 335 when mandatory; + 。拒收请回复R (7) = 336 > 335 when not
    body = "请" * 323
    assert checked(body, mandatory=True).body == body
    with pytest.raises(notice.NoticeError, match="过长"):
        checked(body, mandatory=False)
