"""Sienge sales contracts (`GET /sales-contracts`), generated on demand like customers.

The Swagger's list item declares `salesContractCustomers`, `salesContractUnits`, `paymentConditions` and
`brokers` as single objects (and a customer's `name` as boolean), while the insert body has arrays. The
sandbox follows the Swagger by default, so records validate against the schema the tap derives from it; the
`sales_contract_lists` switch sends arrays with string names instead, which is what the real API most likely
does (GUESS). Contracts carry no modification date, so the tap bookmarks the window it asked for.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from ponte.sandbox import brdata as br
from ponte.sandbox.sienge.customers import display_name
from ponte.sandbox.timeline import Timeline

Row = dict[str, Any]
SALT = 400
SITUATIONS = ("Solicitado", "Autorizado", "Emitido", "Cancelado")
FIRST_DAY, LAST_DAY = dt.date(2016, 1, 1), dt.date(2026, 6, 30)


class ContractRefs:
    """What contracts point at: units (hence enterprises and companies) and the customer id space."""

    def __init__(self, units: Sequence[Row], enterprises: Mapping[int, Row], customers: int) -> None:
        self.units = units
        self.enterprises = enterprises
        self.customers = max(1, customers)


def situation_code(seed: int, i: int) -> int:
    """0 requested, 1 authorised, 2 issued (most), 3 cancelled."""
    roll = br.mix(seed, i, SALT) % 20
    return 0 if roll == 0 else 1 if roll == 1 else 3 if roll >= 18 else 2


def parties(seed: int, i: int, refs: ContractRefs) -> tuple[int, Row, Row]:
    """(customer id, unit row, enterprise row) of contract i."""
    h = br.mix(seed, i, SALT + 1)
    unit = refs.units[h % len(refs.units)]
    return 1 + (h >> 16) % refs.customers, unit, refs.enterprises[unit["enterpriseId"]]


def contract(seed: int, i: int, timeline: Timeline, refs: ContractRefs, as_lists: bool = False) -> Row:
    """The full record of sales contract i."""
    h = br.mix(seed, i, SALT + 2)
    customer_id, unit, enterprise = parties(seed, i, refs)
    code = situation_code(seed, i)
    signed = timeline.created(i).date()
    changed = timeline.modified(i).date()
    value = round(180_000 + (h % 2_000_000) * 0.5, 2)
    cancelled = code == 3
    issued = min(signed + dt.timedelta(days=(h >> 24) % 10), LAST_DAY) if code >= 2 else None
    delivery = signed + dt.timedelta(days=540 + (h >> 28) % 720)
    buyer = display_name(seed, customer_id) if as_lists else None
    customers = {"id": customer_id, "name": buyer, "main": True, "spouse": False, "participationPercentage": 100.0}
    units = {"id": unit["id"], "main": True, "name": unit["name"], "participationPercentage": 100.0}
    brokers = {"id": float(1 + (h >> 32) % 40), "main": True}
    conditions = [
        _condition(h, "Sinal", "SI", 1, round(value * 0.1, 2), signed, 1),
        _condition(h, "Parcelas mensais", "PM", 60, round(value * 0.9, 2), signed + dt.timedelta(days=30), 2),
    ]
    return {
        "id": i,
        "companyId": enterprise["companyId"],
        "internalCompanyId": enterprise["companyId"],
        "companyName": enterprise["companyName"],
        "enterpriseId": enterprise["id"],
        "internalEnterpriseId": enterprise["id"],
        "enterpriseName": enterprise["name"],
        "receivableBillId": 10_000 + i if code >= 2 else None,
        "cancellationPayableBillId": 50_000 + i if cancelled else None,
        "contractDate": signed.isoformat(),
        "issueDate": issued.isoformat() if issued else None,
        "accountingDate": issued.isoformat() if issued else None,
        "expectedDeliveryDate": delivery.isoformat(),
        "keysDeliveredAt": delivery.isoformat() if code == 2 and delivery < LAST_DAY else None,
        "number": f"CV-{i:06d}",
        "externalId": None,
        "correctionType": "M" if h & 1 else "A",
        "situation": SITUATIONS[code],
        "discountType": None,
        "discountPercentage": 0.0,
        "value": value,
        "totalSellingValue": value,
        "cancellationDate": changed.isoformat() if cancelled else None,
        "totalCancellationAmount": round(value * 0.2, 2) if cancelled else None,
        "cancellationReason": "Desistência do comprador" if cancelled else None,
        "financialInstitutionNumber": None,
        "financialInstitutionDate": None,
        "proRataIndexer": 1,
        "interestType": "S",
        "interestPercentage": 1.0,
        "fineRate": 2.0,
        "lateInterestCalculationType": "D",
        "dailyLateInterestValue": 0.033,
        "containsRemadeInstallments": (h >> 40) % 25 == 0,
        "specialClause": None,
        "salesContractCustomers": [customers] if as_lists else customers,
        "salesContractUnits": [units] if as_lists else units,
        "paymentConditions": conditions if as_lists else conditions[1],
        "brokers": [brokers] if as_lists else brokers,
        "linkedCommissions": {"totalCommission": 4.0, "totalCommissionAmount": round(value * 0.04, 2)},
        "links": [
            {"rel": "customer", "href": f"/customers/{customer_id}"},
            {"rel": "unit", "href": f"/units/{unit['id']}"},
        ],
    }


def _condition(h: int, name: str, type_id: str, count: int, total: float, first: dt.date, sequence: int) -> Row:
    paid = min(count, (h >> (8 + sequence)) % (count + 1))
    return {
        "bearerName": "Banco do Brasil - Cobrança",
        "indexerName": "INCC-M",
        "conditionTypeId": type_id,
        "conditionTypeName": name,
        "interestType": "N",
        "matchMaturities": "N",
        "installmentsNumber": count,
        "openInstallmentsNumber": count - paid,
        "bearerId": 2,
        "indexerId": 1,
        "monthsGracePeriod": 0,
        "firstPayment": first.isoformat(),
        "baseDate": first.isoformat(),
        "baseDateInterest": first.isoformat(),
        "totalValue": total,
        "outstandingBalance": round(total * (count - paid) / count, 2),
        "interestPercentage": 0.0,
        "totalValueInterest": 0.0,
        "amountPaid": round(total * paid / count, 2),
        "sequenceId": float(sequence),
    }


def matcher(seed: int, refs: ContractRefs, filters: Mapping[str, Any]) -> Any:
    """A predicate for the non-date filters (customerId, companyId, enterpriseId, unitId, situation), or None."""
    if not filters:
        return None

    def accept(i: int) -> bool:
        customer_id, unit, enterprise = parties(seed, i, refs)
        values = {
            "customerId": customer_id,
            "companyId": enterprise["companyId"],
            "enterpriseId": enterprise["id"],
            "unitId": unit["id"],
            "situation": situation_code(seed, i),
        }
        return all(values[name] in wanted for name, wanted in filters.items())

    return accept
