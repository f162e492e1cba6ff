"""Sienge's mid-sized registries (companies, creditors, enterprises, units, ...), built once per seed.

They hold tens to hundreds of rows (a few pages at limit 200), small enough to keep in memory, and refer to
each other the way a real tenant's do: a unit belongs to an enterprise, an enterprise to a company and a cost
database, an account to a company. Shapes follow the Swagger `GET` list definitions.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from ponte.sandbox import brdata as br
from ponte.sandbox.sienge import lookups

Row = dict[str, Any]
SALT = 100  # keeps catalogue data independent from customers for the same seed


def companies(seed: int, n: int = 5) -> list[Row]:
    """`GET /companies` (sorted by id): id, name, tradeName, cnpj."""
    rows = []
    for i in range(1, n + 1):
        name, trade = br.company_name(seed, i, SALT + 1)
        rows.append({"id": i, "name": name, "tradeName": trade, "cnpj": br.cnpj(seed, i, SALT + 1)})
    return rows


def enterprises(seed: int, company_rows: list[Row], databases: list[Row], n: int = 24) -> list[Row]:
    """`GET /enterprises`: obras and cost centres; `adress` (sic) is a single formatted line."""
    kinds = ("Residencial vertical", "Residencial horizontal", "Comercial", "Loteamento")
    users = ("admin", "jsilva", "mcosta", "integracao")
    rows = []
    for i in range(1, n + 1):
        h = br.mix(seed, i, SALT + 2)
        company = company_rows[h % len(company_rows)]
        database = databases[(h >> 8) % 3]
        where = br.city(seed, i, SALT + 2)
        street, number, hood = br.street(seed, i, SALT + 2)
        created = br.date_between(seed, i, dt.date(2012, 1, 1), dt.date(2025, 12, 31), SALT + 2)
        modified = min(created + dt.timedelta(days=(h >> 16) % 900), dt.date(2026, 6, 30))
        name = f"{('Residencial', 'Edifício', 'Condomínio', 'Centro Empresarial')[(h >> 4) % 4]} {br.COMPANY_NAME[(h >> 24) % len(br.COMPANY_NAME)]}"
        kind_no = 1 + (h >> 40) % 4
        rows.append(
            {
                "id": i,
                "name": f"{name} {i}",
                "commercialName": name,
                "enterpriseObservation": None if h & 3 else "Obra com financiamento associativo",
                "cnpj": br.cnpj(seed, i, SALT + 3) if h & 1 else None,
                "type": "1" if (h >> 32) % 3 else str(1 + (h >> 36) % 4),
                "adress": f"{street}, {number} - {hood}, {where.name}/{where.uf}",
                "creationDate": created.isoformat(),
                "modificationDate": modified.isoformat(),
                "createdBy": users[(h >> 44) % 4],
                "modifiedBy": users[(h >> 46) % 4],
                "companyId": company["id"],
                "companyName": company["name"],
                "costDatabaseId": database["id"],
                "costDatabaseDescription": database["description"],
                "buildingTypeId": kind_no,
                "buildingTypeDescription": kinds[kind_no - 1],
            }
        )
    return rows


def cost_centers(seed: int, enterprise_rows: list[Row], company_rows: list[Row], n: int = 213) -> list[Row]:
    """`GET /cost-centers` (by id): `idCompany` (sic); names sometimes end in a tab, as observed."""
    areas = [d["departmentName"] for d in lookups.departments()]
    rows = []
    for i in range(1, n + 1):
        h = br.mix(seed, i, SALT + 4)
        if i <= len(enterprise_rows):
            source = enterprise_rows[i - 1]
            name, company_id = source["name"], source["companyId"]
        else:
            company_id = company_rows[h % len(company_rows)]["id"]
            name = f"{areas[(h >> 8) % len(areas)]} - {('Matriz', 'Filial', 'PDV', 'Obra', 'Stand de vendas')[(h >> 16) % 5]} {i}"
        if h % 17 == 0:
            name += "\t"
        cnpj = "" if (h >> 20) % 4 else br.cnpj(seed, i, SALT + 4)
        rows.append({"id": i, "name": name, "idCompany": company_id, "cnpj": cnpj})
    return rows


CREDITOR_UNDOCUMENTED = ("creationDate", "lastModificationDate", "contacts")
"""Creditor fields real responses carry and the saved Swagger lacks (newer docs list them; `contacts` is a
list whose item shape is a guess). The `extra_fields` switch leaves them out."""


def creditors(seed: int, n: int = 350) -> list[Row]:
    """`GET /creditors`: suppliers, brokers and employees, with address, phones and the undocumented fields."""
    rows = []
    for i in range(1, n + 1):
        h = br.mix(seed, i, SALT + 5)
        company = h % 3 != 0
        where = br.city(seed, i, SALT + 5)
        street, number, hood = br.street(seed, i, SALT + 5)
        if company:
            name, trade = br.company_name(seed, i, SALT + 5)
        else:
            name, trade = br.person(seed, i, SALT + 5).name, None
        ddd, mobile = br.phone(seed, i, where, mobile=not company, salt=SALT + 5)
        role = (h >> 4) % 10
        created = br.date_between(seed, i, dt.date(2010, 1, 1), dt.date(2025, 12, 31), SALT + 5)
        modified = min(created + dt.timedelta(days=(h >> 52) % 1500), dt.date(2026, 6, 30))
        contact = br.person(seed, i, SALT + 6)
        contacts = (
            [{"name": contact.name, "email": br.email(seed, i, contact, SALT + 6), "phone": f"({ddd}) {mobile}"}]
            if company and (h >> 56) % 3
            else []
        )
        rows.append(
            {
                "id": i,
                "name": name,
                "tradeName": trade,
                "cpf": None if company else br.cpf(seed, i, SALT + 5),
                "cnpj": br.cnpj(seed, i, SALT + 5) if company else None,
                "supplier": "S" if company or role < 3 else "N",
                "broker": "S" if not company and role in (3, 4, 5) else "N",
                "employee": "S" if not company and role >= 6 else "N",
                "active": (h >> 8) % 20 != 0,
                "stateRegistrationNumber": f"{(h >> 12) % 10**9:09d}" if company else None,
                "stateRegistrationType": ("C" if (h >> 40) % 3 else "I") if company else "N",
                "paymentTypeId": 1 + (h >> 44) % 4,
                "address": {
                    "cityId": where.ibge,
                    "cityName": where.name,
                    "streetName": street,
                    "number": number,
                    "complement": None if (h >> 48) % 3 else "Sala 2",
                    "neighborhood": hood,
                    "zipCode": br.cep(seed, i, where, SALT + 5),
                },
                "phones": [
                    {
                        "ddd": ddd,
                        "number": mobile,
                        "main": True,
                        "type": 3 if company else 4,
                        "extension": None,
                        "observation": None,
                    }
                ],
                "creationDate": created.isoformat(),
                "lastModificationDate": modified.isoformat(),
                "contacts": contacts,
            }
        )
    return rows


def accountancy_accounts(seed: int, company_rows: list[Row]) -> list[Row]:
    """`GET /accountancy/accounts`: a chart of accounts per company (key companyId + id)."""
    chart = (
        ("1", "ATIVO"), ("1.1", "ATIVO CIRCULANTE"), ("1.1.01", "DISPONÍVEL"), ("1.1.01.01", "Caixa"),
        ("1.1.01.02", "Bancos conta movimento"), ("1.1.02", "CLIENTES"), ("1.1.02.01", "Clientes por venda de unidades"),
        ("1.1.03", "ESTOQUES"), ("1.1.03.01", "Imóveis em construção"), ("1.1.03.02", "Imóveis concluídos"),
        ("1.2", "ATIVO NÃO CIRCULANTE"), ("1.2.01", "IMOBILIZADO"), ("1.2.01.01", "Máquinas e equipamentos"),
        ("2", "PASSIVO"), ("2.1", "PASSIVO CIRCULANTE"), ("2.1.01", "FORNECEDORES"), ("2.1.01.01", "Fornecedores nacionais"),
        ("2.1.02", "OBRIGAÇÕES TRABALHISTAS"), ("2.1.02.01", "Salários a pagar"), ("2.1.03", "ADIANTAMENTOS DE CLIENTES"),
        ("2.1.03.01", "Adiantamentos por venda"), ("2.3", "PATRIMÔNIO LÍQUIDO"), ("2.3.01", "Capital social"),
        ("3", "RECEITAS"), ("3.1", "RECEITA BRUTA"), ("3.1.01", "Receita de venda de imóveis"), ("3.1.02", "Receita de locação"),
        ("4", "CUSTOS E DESPESAS"), ("4.1", "CUSTOS"), ("4.1.01", "Custo dos imóveis vendidos"), ("4.2", "DESPESAS"),
        ("4.2.01", "Despesas administrativas"), ("4.2.02", "Despesas comerciais"), ("4.2.03", "Despesas financeiras"),
    )  # fmt: skip
    rows = []
    for company in company_rows:
        reduced = 0
        for mask, name in chart:
            parts = mask.split(".")
            analytical = len(parts) == 4
            unique = ".".join([*parts, "0001"]) if analytical else mask
            for extra in range(1, (4 if analytical else 2)):
                reduced += 1
                label = name if extra == 1 else f"{name} {extra}"
                number = unique if extra == 1 else unique[:-4] + f"{extra:04d}"
                rows.append(
                    {
                        "companyId": company["id"],
                        "id": reduced,
                        "uniqueNumber": number,
                        "name": label,
                        "accountType": "ANALYTICAL" if analytical else "SYNTHETIC",
                    }
                )
    return rows


def checking_accounts(seed: int, company_rows: list[Row]) -> list[Row]:
    """`GET /checking-accounts`, ordered by account number; some accounts are disabled."""
    banks = (("001", "Banco do Brasil S.A."), ("104", "Caixa Econômica Federal"), ("341", "Itaú Unibanco S.A."),
             ("237", "Banco Bradesco S.A."), ("756", "Banco Cooperativo Sicoob S.A."), ("033", "Banco Santander (Brasil) S.A."))  # fmt: skip
    kinds = (("1", "Conta corrente"), ("2", "Conta aplicação"), ("3", "Conta poupança"), ("4", "Caixa"))
    rows = []
    for i in range(1, 15):
        h = br.mix(seed, i, SALT + 6)
        company = company_rows[h % len(company_rows)]
        bank_no, bank = banks[(h >> 8) % len(banks)]
        kind = kinds[0] if (h >> 16) % 4 else kinds[(h >> 18) % 4]
        number = f"{10000 + (h >> 20) % 90000}-{(h >> 40) % 10}"
        rows.append(
            {
                "accountNumber": number,
                "accountName": f"{bank.split(' ')[0]} {kind[1]} {company['tradeName']}",
                "agencyNumber": f"{(h >> 28) % 10000:04d}",
                "accountType": {"id": kind[0], "description": kind[1]},
                "companyId": company["id"],
                "companyName": company["name"],
                "bankNumber": bank_no,
                "bankName": bank,
                "accountStatus": "DISABLED" if i % 6 == 0 else "ENABLED",
            }
        )
    return sorted(rows, key=lambda r: r["accountNumber"])


def units(seed: int, enterprise_rows: list[Row], per_enterprise: int = 25) -> list[Row]:
    """`GET /units`, listed by id descending: apartments with areas, groupings and garage child units."""
    kinds = [name for name, _ in lookups.PROPERTY_TYPES]
    stock = "DDDDVVVVVVCLRM"
    rows = []
    unit_id = 0
    for enterprise in enterprise_rows:
        for k in range(per_enterprise):
            unit_id += 1
            h = br.mix(seed, unit_id, SALT + 7)
            floor, position = 1 + k // 4, 1 + k % 4
            private = round(45 + (h % 9000) / 100, 2)
            sold = stock[(h >> 16) % len(stock)]
            rows.append(
                {
                    "id": unit_id,
                    "enterpriseId": enterprise["id"],
                    "contractId": None if sold != "V" else unit_id,
                    "indexerId": 1,
                    "name": f"Apto {floor}{position:02d}",
                    "propertyType": kinds[0] if (h >> 8) % 8 else kinds[(h >> 12) % len(kinds)],
                    "note": None,
                    "commercialStock": sold,
                    "latitude": f"-27.{(h >> 20) % 1000000:06d}",
                    "longitude": f"-48.{(h >> 40) % 1000000:06d}",
                    "legalRegistrationNumber": str(10000 + (h >> 24) % 90000),
                    "deliveryDate": dt.date.fromisoformat(enterprise["creationDate"]).replace(day=1).isoformat(),
                    "privateArea": private,
                    "commonArea": round(private * 0.35, 2),
                    "terrainArea": round(private * 0.12, 2),
                    "nonProportionalCommonArea": 0.0,
                    "idealFraction": round(1 / per_enterprise, 6),
                    "idealFractionSquareMeter": round(private * 1.47, 4),
                    "generalSaleValueFraction": round(1 / per_enterprise, 6),
                    "indexedQuantity": round(private * 38.5, 4),
                    "prizedCompliance": 0.0,
                    "terrainValue": round(private * 850, 2),
                    "floor": f"{floor}º Pavimento",
                    "contractNumber": None if sold != "V" else f"CV-{unit_id:05d}",
                    "usableArea": round(private * 0.92, 2),
                    "iptuValue": round(private * 12.4, 2),
                    "realEstateRegistration": f"{(h >> 30) % 10**8:08d}",
                    "childUnits": [
                        {
                            "name": f"Vaga de garagem {unit_id}",
                            "order": str(k + 1),
                            "privateArea": 12.5,
                            "commonArea": 4.1,
                            "idealFraction": 0.001,
                            "idealFractionSquareMeter": 0.35,
                            "locationName": "Subsolo 1",
                            "note": None,
                        }
                    ]
                    if h & 1
                    else [],
                    "groupings": [{"groupingDescription": "Bloco", "valueGroupingDescription": "AB"[(h >> 2) & 1]}],
                    "specialValues": [],
                    "links": [{"rel": "enterprise", "href": f"/enterprises/{enterprise['id']}"}],
                }
            )
    return sorted(rows, key=lambda r: -r["id"])
