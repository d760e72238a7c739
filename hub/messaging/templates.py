"""SMS templates (Simplified Chinese). The signature 【…】 is never part of a template: the sender adds it.

A field listed in ``masked`` is masked before it is put in the text (name, ID number, phone), as personal
data in an SMS must be (the phone may be read by others; DOMAIN §6.2). Verification templates contain 验证码.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from hub.ids import mask_id_number, mask_name, mask_phone

CODE_WORDS = ("验证码", "注册码", "校验码", "动态码")
OPT_OUT_SUFFIX = "拒收请回复R"

_MASKS: dict[str, Callable[[str], str]] = {"name": mask_name, "id_number": mask_id_number, "phone": mask_phone}


class TemplateError(ValueError):
    """Unknown template, missing field, or a template that breaks the SMS rules."""


@dataclass(frozen=True)
class Template:
    name: str
    text: str
    verification: bool = False
    masked: Mapping[str, str] = field(default_factory=dict)
    defaults: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if "【" in self.text or "】" in self.text:
            raise TemplateError(f"template {self.name} carries a signature; the sender adds it")
        if self.verification and not any(word in self.text for word in CODE_WORDS):
            raise TemplateError(f"verification template {self.name} must contain 验证码")
        unknown = set(self.masked.values()) - set(_MASKS)
        if unknown:
            raise TemplateError(f"template {self.name}: unknown masks {sorted(unknown)}")

    def render(self, personalisation: Mapping[str, str]) -> str:
        values = {**self.defaults, **personalisation}
        missing = sorted(set(_placeholders(self.text)) - set(values))
        if missing:
            raise TemplateError(f"template {self.name}: missing fields {missing}")
        for key, mask in self.masked.items():
            if key in values:
                values[key] = _MASKS[mask](values[key])
        return string.Template(self.text).substitute(values)


def _placeholders(text: str) -> list[str]:
    return re.findall(r"\$\{(\w+)\}", text)


_CODE_TEXT = "您的验证码为${code}，${minutes}分钟内有效，请勿泄露给他人。如非本人操作，请忽略本短信。"

TEMPLATES: dict[str, Template] = {
    t.name: t
    for t in (
        Template("verification_code", _CODE_TEXT, verification=True, defaults={"minutes": "5"}),
        Template("login_code", _CODE_TEXT, verification=True, defaults={"minutes": "5"}),
        Template("register_code", _CODE_TEXT, verification=True, defaults={"minutes": "5"}),
        Template("reset_password_code", _CODE_TEXT, verification=True, defaults={"minutes": "5"}),
        Template(
            "declaration_done",
            "您单位提交的${business}（受理号${reference}）已办结，结果：${result}。详情请登录单位网上服务平台查看。",
        ),
        Template(
            "business_done",
            "您办理的${business}（受理号${reference}）已办结，结果：${result}。详情请登录个人网上服务平台或掌上12333查看。",
        ),
        Template(
            "rights_statement",
            "尊敬的${name}：您${year}年度社会保险个人权益记录：机关事业单位基本养老保险缴费${months}个月，"
            "个人缴费${person_amount}元，记入个人账户${to_account}元；职业年金个人缴费${annuity_amount}元。"
            "如有异议，请携身份证件到参保地经办机构申请核查，或致电12333。",
            masked={"name": "name"},
        ),
        Template(
            "benefit_paid",
            "您${month}的养老待遇${amount}元已于${paid_on}发放至您的社会保障卡银行账户，请注意查收。",
        ),
        Template(
            "card_status",
            "您的社会保障卡状态已变更为：${status}。如非本人操作，请立即致电12333或到经办机构办理挂失。",
        ),
        Template("staff_notice", "${content}"),
        Template(
            "eligibility_reminder",
            "您的养老待遇资格认证即将到期，请于${deadline}前到经办大厅、自助终端或通过线上渠道完成认证，逾期将暂停发放。",
        ),
        Template(
            "wage_declaration_reminder",
            "您单位${year}年度缴费工资申报将于${deadline}截止，目前尚未提交，请及时登录单位网上服务平台办理。",
        ),
    )
}


def get(name: str) -> Template:
    try:
        return TEMPLATES[name]
    except KeyError:
        raise TemplateError(f"unknown SMS template {name!r}") from None


def render(name: str, personalisation: Mapping[str, str], *, mandatory: bool = True) -> str:
    """The body of a message (without signature); a non-mandatory message carries the opt-out hint."""
    body = get(name).render(personalisation)
    if mandatory:
        return body
    return f"{body}{'' if body.endswith(('。', '！', '？')) else '。'}{OPT_OUT_SUFFIX}"
