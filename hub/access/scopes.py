"""Operations a caller may perform, named as OAuth scopes.

A token's ``scope`` claim lists them; the channel registry caps what a channel's clients may hold;
the row-level rules (``hub.access.rules``) then decide which records.
"""

from __future__ import annotations

from enum import StrEnum


class Scope(StrEnum):
    PERSON_READ = "person:read"  # overview and insurance (参保信息)
    CONTRIBUTION_READ = "contribution:read"  # 缴费明细
    ACCOUNT_READ = "account:read"  # 个人账户 (basic and 职业年金)
    BENEFIT_READ = "benefit:read"  # 待遇 and payments
    CARD_READ = "card:read"  # 社保卡
    STATEMENT_READ = "statement:read"  # 个人权益记录
    UNIT_READ = "unit:read"  # unit overview, roster and month totals
    AUDIT_READ = "audit:read"  # the audit log (auditor only)


PERSON_SCOPES = frozenset(
    {
        Scope.PERSON_READ,
        Scope.CONTRIBUTION_READ,
        Scope.ACCOUNT_READ,
        Scope.BENEFIT_READ,
        Scope.CARD_READ,
        Scope.STATEMENT_READ,
    }
)
ALL_SCOPES = frozenset(Scope)
