"""The plain list endpoints of the Sienge sandbox: their rows, filters and defaults, declared as data.

Each `ListSpec` says which query parameters filter which field and which defaults the API applies when a
parameter is absent (e.g. `/checking-accounts` lists only ENABLED accounts unless `accountStatus=ALL`), so
adding a resource is one entry here. Parameters the sandbox does not know are ignored, like the API does.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ponte.sandbox.sienge import catalog, lookups, supplies

Row = dict[str, Any]
Filter = Callable[[Row, str], bool]


@dataclass
class ListSpec:
    """Rows of one list endpoint and how its query parameters filter them."""

    rows: list[Row]
    filters: dict[str, Filter] = field(default_factory=dict)
    defaults: dict[str, str] = field(default_factory=dict)
    no_filter: dict[str, str] = field(default_factory=dict)
    default_limit: int = 100
    links: bool = False
    extra: dict[Any, Any] = field(default_factory=dict)
    undocumented: tuple[str, ...] = ()
    """Fields of `rows` that the saved Swagger lacks (left out when the `extra_fields` switch is off)."""

    def select(self, query: Mapping[str, str]) -> list[Row]:
        """The rows matching the request's filters (defaults included)."""
        given = {k: v for k, v in query.items() if k in self.filters and v != ""}
        active = {k: v for k, v in {**self.defaults, **given}.items() if self.no_filter.get(k) != v.upper()}
        if not active:
            return self.rows
        return [row for row in self.rows if all(self.filters[k](row, v) for k, v in active.items())]


def eq(name: str) -> Filter:
    """Case-insensitive equality on a field (ids compare as text)."""
    return lambda row, value: str(row.get(name)).casefold() == value.casefold()


def nested(name: str, sub: str) -> Filter:
    """Equality on a field of a nested object."""
    return lambda row, value: str((row.get(name) or {}).get(sub)).casefold() == value.casefold()


def contains(*names: str) -> Filter:
    """Case-insensitive substring on any of the fields (name searches)."""
    return lambda row, value: any(value.casefold() in str(row.get(n) or "").casefold() for n in names)


def digits(name: str) -> Filter:
    """Documents compare without punctuation."""
    return lambda row, value: (row.get(name) or "") == "".join(c for c in value if c.isdigit())


def only_active(name: str = "status") -> Filter:
    """`onlyActive=true` keeps ACTIVE rows; false keeps all."""
    return lambda row, value: value.lower() != "true" or row.get(name) == "ACTIVE"


def list_specs(seed: int) -> dict[str, ListSpec]:
    """Every list endpoint except customers and sales contracts (those are generated lazily)."""
    companies = catalog.companies(seed)
    databases = supplies.cost_databases()
    enterprises = catalog.enterprises(seed, companies, databases)
    resources = {db["id"]: supplies.resources(seed, db["id"]) for db in databases}
    return {
        "/companies": ListSpec(companies),
        "/creditors": ListSpec(
            catalog.creditors(seed),
            {"cpf": digits("cpf"), "cnpj": digits("cnpj"), "creditor": contains("name", "tradeName", "id")},
            undocumented=catalog.CREDITOR_UNDOCUMENTED,
        ),
        "/enterprises": ListSpec(enterprises, {"companyId": eq("companyId"), "type": eq("type")}),
        "/cost-centers": ListSpec(catalog.cost_centers(seed, enterprises, companies)),
        "/departments": ListSpec(
            lookups.departments(),
            {
                "name": contains("departmentName"),
                "active": eq("active"),
                "directorateId": nested("directorate", "directorateId"),
            },
        ),
        "/units-of-measure": ListSpec(
            lookups.units_of_measure(),
            {
                "status": eq("status"),
                "unitOfMeasureId": eq("id"),
                "unitOfMeasureSymbol": eq("symbol"),
                "unitOfMeasureDescription": contains("description"),
                "unitOfTime": eq("isUnitOfTime"),
            },
            defaults={"status": "ACTIVE"},
        ),
        "/payment-categories": ListSpec(lookups.payment_categories()),
        "/accountancy/accounts": ListSpec(
            catalog.accountancy_accounts(seed, companies),
            {
                "companyId": eq("companyId"),
                "id": eq("id"),
                "uniqueNumber": eq("uniqueNumber"),
                "accountType": eq("accountType"),
            },
        ),
        "/checking-accounts": ListSpec(
            catalog.checking_accounts(seed, companies),
            {"companyId": eq("companyId"), "accountNumber": eq("accountNumber"), "accountStatus": eq("accountStatus")},
            defaults={"accountStatus": "ENABLED"},
            no_filter={"accountStatus": "ALL"},
        ),
        "/indexers": ListSpec(lookups.indexers()),
        "/customer-types": ListSpec(lookups.customer_types(), {"id": eq("id"), "description": contains("description")}),
        "/units": ListSpec(
            catalog.units(seed, enterprises),
            {"enterpriseId": eq("enterpriseId"), "commercialStock": eq("commercialStock"), "name": contains("name")},
        ),
        "/civil-status": ListSpec(lookups.civil_status(), {"description": contains("description")}),
        "/cities": ListSpec(lookups.cities(), {"name": contains("name"), "stateCode": nested("state", "code")}),
        "/professions": ListSpec(lookups.professions()),
        "/property-types": ListSpec(lookups.property_types(), {"name": contains("name")}),
        "/payment-condition-types": ListSpec(lookups.payment_condition_types(), {"filter": contains("description")}),
        "/bearers-receivable": ListSpec(lookups.bearers_receivable(), {"filter": contains("bearerName")}),
        "/resource-groups": ListSpec(
            lookups.resource_groups(), {"status": eq("status"), "query": contains("description", "referenceId")}
        ),
        "/supply-categories": ListSpec(
            lookups.supply_categories(), {"onlyActive": only_active()}, default_limit=200, links=True
        ),
        "/cost-databases": ListSpec(
            databases,
            {"id": eq("id"), "status": eq("status"), "description": contains("description")},
            defaults={"status": "ACTIVE"},
            extra=resources,
        ),
    }
