"""Templates (signature never inside, 验证码 in codes, masking) and receipt parsing."""

from __future__ import annotations

import pytest

from hub.config.sms import SmsSettings
from hub.messaging import templates
from sms import receipts


def test_every_template_renders_without_a_signature() -> None:
    for t in templates.TEMPLATES.values():
        assert "【" not in t.text and "】" not in t.text
        if t.verification:
            assert "验证码" in t.text


def test_a_template_with_a_signature_is_refused() -> None:
    with pytest.raises(templates.TemplateError):
        templates.Template("bad", "【某某】您好")
    with pytest.raises(templates.TemplateError):
        templates.Template("bad_code", "您的号码为${code}", verification=True)


def test_rights_statement_masks_the_name() -> None:
    body = templates.render(
        "rights_statement",
        {
            "name": "欧阳明",
            "year": "2025",
            "months": "12",
            "person_amount": "9600.00",
            "to_account": "9600.00",
            "annuity_amount": "4800.00",
        },
    )
    assert "尊敬的欧*明" in body and "欧阳明" not in body


def test_missing_field_and_unknown_template() -> None:
    with pytest.raises(templates.TemplateError):
        templates.render("verification_code", {})
    with pytest.raises(templates.TemplateError):
        templates.render("nope", {})


def test_non_mandatory_message_carries_the_opt_out_hint() -> None:
    assert templates.render("staff_notice", {"content": "通知"}, mandatory=False).endswith("拒收请回复R")


def test_signature_setting_is_checked() -> None:
    with pytest.raises(ValueError, match="2–8"):
        SmsSettings(signature="【太长的签名不可以用】")


def test_receipt_text_and_tlvs() -> None:
    text = b"id:0a1b sub:001 dlvrd:001 submit date:2611271200 done date:2611271201 stat:DELIVRD err:000 text:"
    assert receipts.parse(text, None, None) == receipts.ParsedReceipt("0a1b", "DELIVRD", "000")
    # TLVs win over the text
    assert receipts.parse(text, b"ffff\x00", 5) == receipts.ParsedReceipt("ffff", "UNDELIV", "000")
    assert receipts.parse(b"", "77", 2) == receipts.ParsedReceipt("77", "DELIVRD", None)
    assert receipts.parse(b"hello", None, None) is None
    assert receipts.is_final("EXPIRED") and not receipts.is_final("ENROUTE")
