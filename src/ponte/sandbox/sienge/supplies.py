"""Sienge's supplies catalogue: cost databases (tabelas de custos unitários) and their resources (insumos).

There is no global list of insumos in the API; each cost database lists its own under
`/cost-databases/{id}/resources`, so the tap reads them as a child stream keyed (costDatabaseId, id).
Resource groups come from `sienge_lookups.resource_groups`, units from `units_of_measure`, so references agree.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from ponte.sandbox import brdata as br
from ponte.sandbox.sienge import lookups

Row = dict[str, Any]
SALT = 300

ITEMS = {
    "MATERIAL": (
        ("Cimento CP II 50 kg", "sc"), ("Areia média lavada", "m³"), ("Brita 1", "m³"), ("Aço CA-50 10 mm", "kg"),
        ("Bloco cerâmico 14x19x29", "un"), ("Argamassa AC-II", "sc"), ("Tinta acrílica branca 18 l", "lata"),
        ("Porcelanato 60x60", "m²"), ("Tubo PVC 100 mm", "m"), ("Fio de cobre 2,5 mm²", "rl"), ("Janela de alumínio", "un"),
        ("Vaso sanitário com caixa acoplada", "un"), ("Impermeabilizante asfáltico", "gl"), ("Tábua de pinus 30 cm", "m"),
    ),
    "LABOR": (("Pedreiro", "h"), ("Servente", "h"), ("Carpinteiro", "h"), ("Armador", "h"), ("Eletricista", "h"), ("Encanador", "h")),
    "EQUIPMENT": (("Betoneira 400 l", "dia"), ("Andaime tubular", "mês"), ("Retroescavadeira", "h"), ("Vibrador de concreto", "dia")),
    "TRANSPORT_ITEM": (("Frete de caminhão basculante", "km"), ("Caçamba de entulho", "un")),
    "FUELS_AND_LUBRICANTS": (("Óleo diesel", "l"), ("Graxa", "kg")),
    "OFFICE_SUPPLY": (("Papel A4", "cx"), ("Toner de impressora", "un")),
    "MAINTENANCE_MATERIAL": (("Disco de corte", "un"), ("Lubrificante spray", "un")),
    "INCREMENTAL_COST_ITEM": (("Taxa de administração", "vb"),),
    "OTHER": (("Serviço de topografia", "vb"), ("Ensaio de concreto", "un")),
}  # fmt: skip
_FLAT = [(category, name, unit) for category, items in ITEMS.items() for name, unit in items]


def cost_databases() -> list[Row]:
    """`GET /cost-databases`: three active tables and one inactive (hidden by the default status filter)."""
    data = (
        ("Tabela padrão da construtora", True, False, "ACTIVE", True),
        ("SINAPI SC - desonerado", False, True, "ACTIVE", True),
        ("Orçamentos comerciais", False, False, "ACTIVE", False),
        ("Tabela 2019 (descontinuada)", False, False, "INACTIVE", False),
    )
    return [
        {
            "id": n,
            "description": d,
            "isDefault": default,
            "isReference": reference,
            "status": status,
            "costDatabaseEnabledForIntegration": integration,
        }
        for n, (d, default, reference, status, integration) in enumerate(data, 1)
    ]


def resources(seed: int, database_id: int, n: int = 50) -> list[Row]:
    """`GET /cost-databases/{id}/resources`: n insumos with group, prices, details and trademarks."""
    units = {u["symbol"]: u for u in lookups.units_of_measure()}
    groups = [g for g in lookups.resource_groups() if g["level"] == 2]
    rows = []
    for k in range(1, n + 1):
        h = br.mix(seed, database_id * 10_000 + k, SALT)
        category, name, symbol = _FLAT[(k - 1) % len(_FLAT)]
        if k > len(_FLAT):
            name = f"{name} - variação {k // len(_FLAT) + 1}"
        group = next((g for g in groups if g["category"] == category), groups[(h >> 8) % len(groups)])
        family_id = int(group["referenceId"].split(".")[0])
        price = round(1 + (h % 200_000) / 100, 2)
        rows.append(
            {
                "id": k,
                "description": name,
                "unitOfMeasure": symbol,
                "unitOfMeasureDescription": units[symbol]["description"],
                "category": category,
                "resourceCode": f"{database_id}{k:05d}",
                "barcode": f"789{(h >> 20) % 10**10:010d}" if category == "MATERIAL" else None,
                "resourceGroup": {
                    "id": groups.index(group) + 1,
                    "description": group["description"],
                    "referenceId": group["referenceId"],
                },
                "resourceFamily": {
                    "id": family_id,
                    "description": category.replace("_", " ").title(),
                    "referenceId": f"{family_id:02d}",
                },
                "financialCategory": {
                    "id": "20101" if category != "LABOR" else "20102",
                    "description": "Materiais" if category != "LABOR" else "Mão de obra",
                },
                "status": "INACTIVE" if h % 23 == 0 else "ACTIVE",
                "details": [] if h & 1 else [_detail(k, h)],
                "trademarks": []
                if (h >> 2) % 3
                else [{"id": 1 + (h >> 4) % 9, "description": br.COMPANY_NAME[(h >> 4) % 9]}],
                "prices": [
                    {
                        "id": 1,
                        "description": "Preço base",
                        "unitPrice": price,
                        "date": (dt.date(2026, 1, 1) + dt.timedelta(days=(h >> 30) % 170)).isoformat(),
                    }
                ],
            }
        )
    return rows


def _detail(k: int, h: int) -> Row:
    return {
        "id": 1,
        "description": ("Cor branca", "Cor cinza", "Tamanho P", "Tamanho G")[(h >> 6) % 4],
        "detailCode": f"D{k:03d}",
        "status": "ACTIVE",
        "fiscalProduct": {"id": 1000 + k, "description": "Produto para revenda"},
    }
