"""GraphQL object types: the services' pydantic schemas, exposed field for field."""

from __future__ import annotations

from typing import TypeVar

import strawberry
from pydantic import BaseModel
from strawberry.experimental import pydantic as spd

from hub.persons import schemas as ps
from hub.units import schemas as us

T = TypeVar("T")


def to_gql(cls: type[T], model: BaseModel) -> T:
    """The strawberry object for a service schema (``from_pydantic`` is added by the decorator)."""
    converted: T = getattr(cls, "from_pydantic")(model)  # noqa: B009
    return converted


@spd.type(model=ps.PersonOverviewRead, all_fields=True)
class PersonOverviewType:
    pass


@spd.type(model=ps.InsuranceRead, all_fields=True)
class InsuranceType:
    pass


@spd.type(model=ps.ContributionRead, all_fields=True)
class ContributionType:
    pass


@spd.type(model=ps.AccountYearRead, all_fields=True)
class AccountYearType:
    pass


@spd.type(model=ps.BenefitItemRead, all_fields=True)
class BenefitItemType:
    pass


@spd.type(model=ps.BenefitRead, all_fields=True)
class BenefitType:
    pass


@spd.type(model=ps.BenefitPaymentRead, all_fields=True)
class BenefitPaymentType:
    pass


@spd.type(model=ps.CardRead, all_fields=True)
class CardType:
    pass


@spd.type(model=ps.StatementLineRead, all_fields=True)
class StatementLineType:
    pass


@spd.type(model=us.UnitOverviewRead, all_fields=True)
class UnitOverviewType:
    pass


@spd.type(model=us.UnitMonthTotalRead, all_fields=True)
class UnitMonthTotalType:
    pass


@strawberry.type
class ContributionPageType:
    items: list[ContributionType]
    next_cursor: str | None
