"""GraphQL object types: the services' pydantic schemas, exposed field for field."""

from __future__ import annotations

from typing import TypeVar, cast

import strawberry
from pydantic import BaseModel
from strawberry.experimental import pydantic as spd

from hub.persons import schemas as ps
from hub.units import schemas as us

T = TypeVar("T")


def to_gql(cls: type[T], model: BaseModel) -> T:
    """The service schema's object itself, answered as ``cls``.

    Each type below is its pydantic model field for field (``all_fields=True``): strawberry resolves a
    field by attribute and the type's ``is_type_of`` accepts the model, so a converted copy
    (``from_pydantic``, which walks every field, a tenth of a millisecond per overview) would answer the
    same. A model that is not ``cls``'s own is still converted.
    """
    if isinstance(model, _MODELS.get(cls, ())):
        return cast(T, model)
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


# strawberry type → its pydantic model (the ``model`` of each decorator above).
_MODELS: dict[type, type[BaseModel]] = {
    PersonOverviewType: ps.PersonOverviewRead,
    InsuranceType: ps.InsuranceRead,
    ContributionType: ps.ContributionRead,
    AccountYearType: ps.AccountYearRead,
    BenefitItemType: ps.BenefitItemRead,
    BenefitType: ps.BenefitRead,
    BenefitPaymentType: ps.BenefitPaymentRead,
    CardType: ps.CardRead,
    StatementLineType: ps.StatementLineRead,
    UnitOverviewType: us.UnitOverviewRead,
    UnitMonthTotalType: us.UnitMonthTotalRead,
}
