"""The channel registry: which operations each channel may perform and how it masks personal data.

Data, not code paths: a front end looks its channel up here and every rule follows. Masking follows
DOMAIN.md §6.2 (ID number ``110***********1234``, phone ``138****1234``, name ``张*``, bank card
``6222 **** **** 1234``). Only the hall counter, where staff hold the person's documents in hand,
sees numbers in full.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType

from hub import ids
from hub.access.scopes import ALL_SCOPES, PERSON_SCOPES, Scope
from hub.access.subject import Channel


@dataclass(frozen=True)
class MaskingPolicy:
    id_number: bool = True
    phone: bool = True
    name: bool = False
    bank_card: bool = True
    # 通讯地址 and 邮政编码: the person's own screens show them; a public screen or a spoken answer only the
    # province/city part (``mask_address``) and the province digits of the postal code.
    address: bool = False


@dataclass(frozen=True)
class ChannelPolicy:
    channel: Channel
    label: str
    scopes: frozenset[Scope]
    masking: MaskingPolicy


FULL_MASK = MaskingPolicy(id_number=True, phone=True, name=True, bank_card=True, address=True)

REGISTRY: MappingProxyType[Channel, ChannelPolicy] = MappingProxyType(
    {
        Channel.PORTAL: ChannelPolicy(Channel.PORTAL, "网上服务大厅", ALL_SCOPES, MaskingPolicy()),
        Channel.APP: ChannelPolicy(Channel.APP, "掌上12333", PERSON_SCOPES, MaskingPolicy()),
        # A kiosk screen stands in a public hall: everything masked, names too.
        Channel.KIOSK: ChannelPolicy(Channel.KIOSK, "自助终端", PERSON_SCOPES, FULL_MASK),
        # The hotline reads answers aloud: everything masked; of the card only its status and issue date are
        # spoken (the number stays masked to its last 4 characters).
        Channel.HOTLINE: ChannelPolicy(
            Channel.HOTLINE,
            "12333热线",
            frozenset(
                {
                    Scope.PERSON_READ,
                    Scope.CONTRIBUTION_READ,
                    Scope.ACCOUNT_READ,
                    Scope.BENEFIT_READ,
                    Scope.CARD_READ,
                    Scope.STATEMENT_READ,
                }
            ),
            FULL_MASK,
        ),
        Channel.HALL: ChannelPolicy(
            Channel.HALL,
            "经办大厅窗口",
            ALL_SCOPES,
            MaskingPolicy(id_number=False, phone=False, name=False, bank_card=False, address=False),
        ),
        Channel.PARTNER: ChannelPolicy(Channel.PARTNER, "合作机构", frozenset({Scope.STATEMENT_READ}), FULL_MASK),
    }
)


def policy(channel: Channel) -> ChannelPolicy:
    return REGISTRY[channel]


def mask_bank_card(value: str) -> str:
    """'6222 **** **** 1234': first 4 and last 4 digits kept, grouped by four."""
    digits = "".join(value.split())
    if len(digits) <= 8:
        return "*" * len(digits)
    return f"{digits[:4]} **** **** {digits[-4:]}"


ADDRESS_SHOWN = 6  # characters of an address a masking channel shows: about the province and city


def mask_address(value: str) -> str:
    """'山东省济南市***': the first ``ADDRESS_SHOWN`` characters and ``***``; an address that short shows
    only its first half, so a masked address never shows the whole of it."""
    shown = ADDRESS_SHOWN if len(value) > ADDRESS_SHOWN else len(value) // 2
    return value[:shown] + "***"


def mask_postal_code(value: str) -> str:
    """'25****': the first two digits (the province) of a 邮政编码."""
    return value[:2] + "*" * max(len(value) - 2, 0)


class Masker:
    """Applies one channel's masking policy; ``None`` stays ``None``."""

    def __init__(self, masking: MaskingPolicy) -> None:
        self.masking = masking

    def id_number(self, value: str | None) -> str | None:
        return ids.mask_id_number(value) if value is not None and self.masking.id_number else value

    def phone(self, value: str | None) -> str | None:
        return ids.mask_phone(value) if value is not None and self.masking.phone else value

    def name(self, value: str | None) -> str | None:
        return ids.mask_name(value) if value is not None and self.masking.name else value

    def bank_card(self, value: str | None) -> str | None:
        return mask_bank_card(value) if value is not None and self.masking.bank_card else value

    def address(self, value: str | None) -> str | None:
        return mask_address(value) if value is not None and self.masking.address else value

    def postal_code(self, value: str | None) -> str | None:
        return mask_postal_code(value) if value is not None and self.masking.address else value

    def card_no(self, value: str | None) -> str | None:
        """社会保障卡卡号 (9 characters): only the last 4 shown when bank details are masked."""
        if value is None or not self.masking.bank_card:
            return value
        return "*" * max(len(value) - 4, 0) + value[-4:]


def masker(channel: Channel) -> Masker:
    return Masker(REGISTRY[channel].masking)
