"""Every REST and GraphQL operation of the API, with what it reads, for the whole-app tests."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Op:
    name: str
    target: str  # person | unit | audit
    rest: str | None  # path with {id}
    graphql: str | None  # query with $id
    personal: bool = True


def _person_gql(field: str) -> str:
    return "query($id: ID!) { person(id: $id) { " + field + " } }"


def _unit_gql(field: str) -> str:
    return "query($id: ID!) { unit(id: $id) { " + field + " } }"


OPS: tuple[Op, ...] = (
    Op("person.overview", "person", "/api/v1/persons/{id}/overview", _person_gql("overview { name idNumber phone }")),
    Op("person.insurance", "person", "/api/v1/persons/{id}/insurance", _person_gql("insurance { insurance status }")),
    Op(
        "person.contributions",
        "person",
        "/api/v1/persons/{id}/contributions",
        _person_gql("contributions(first: 5) { items { detailId period base } nextCursor }"),
    ),
    Op("person.accounts", "person", "/api/v1/persons/{id}/accounts", _person_gql("accounts { account year closing }")),
    Op(
        "person.benefit",
        "person",
        "/api/v1/persons/{id}/benefit",
        _person_gql("benefit { monthlyTotal items { item amount } }"),
    ),
    Op("person.payments", "person", "/api/v1/persons/{id}/benefit/payments", _person_gql("payments { period amount }")),
    Op("person.card", "person", "/api/v1/persons/{id}/card", _person_gql("card { cardNo status }")),
    Op(
        "person.statement",
        "person",
        "/api/v1/persons/{id}/rights-statement",
        _person_gql("rightsStatement { year insurance paid }"),
    ),
    Op("unit.overview", "unit", "/api/v1/units/{id}/overview", _unit_gql("overview { name contactPhone }")),
    Op(
        "unit.roster",
        "unit",
        "/api/v1/units/{id}/roster",
        _unit_gql("roster(first: 5) { items { personId name idNumber } nextCursor }"),
    ),
    Op(
        "unit.month_totals",
        "unit",
        "/api/v1/units/{id}/month-totals",
        _unit_gql("monthTotals { period insurance due }"),
    ),
    Op("audit.query", "audit", "/api/v1/audit/records", None),
)
