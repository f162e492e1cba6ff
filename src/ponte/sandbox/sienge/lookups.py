"""Sienge's small reference tables (cadastros auxiliares), shaped like the public API returns them.

Field names and types follow the Swagger files or, for resources without a saved Swagger, the facts file
(docs/api-facts-sienge.md, section 5.2). Values are plausible for a construction company; the same tables
feed the customers and contracts generators, so a customer's `civilStatus` is one of `/civil-status`.
"""

from __future__ import annotations

from typing import Any

from ponte.sandbox.brcities import CITIES, STATES

Row = dict[str, Any]

CIVIL_STATUS = ("Solteiro(a)", "Casado(a)", "Divorciado(a)", "Viúvo(a)", "União estável", "Separado(a)")
PROFESSIONS = (
    "Engenheiro(a) civil", "Arquiteto(a)", "Advogado(a)", "Médico(a)", "Professor(a)", "Empresário(a)",
    "Contador(a)", "Servidor(a) público(a)", "Comerciante", "Analista de sistemas", "Enfermeiro(a)",
    "Dentista", "Administrador(a)", "Vendedor(a)", "Motorista", "Aposentado(a)", "Estudante", "Corretor(a) de imóveis",
    "Farmacêutico(a)", "Psicólogo(a)", "Bancário(a)", "Autônomo(a)", "Técnico(a) em edificações", "Eletricista",
)  # fmt: skip
CUSTOMER_TYPES = ("Comprador", "Investidor", "Permutante", "Locatário", "Fiador")
PROPERTY_TYPES = (
    ("Apartamento", True), ("Casa", True), ("Sala comercial", False), ("Loja", False), ("Terreno", False),
    ("Vaga de garagem", False), ("Cobertura", True), ("Studio", True), ("Galpão", False),
)  # fmt: skip


def civil_status() -> list[Row]:
    """`GET /civil-status`: id, description."""
    return [{"id": n, "description": d} for n, d in enumerate(CIVIL_STATUS, 1)]


def professions() -> list[Row]:
    """`GET /professions`: id, name."""
    return [{"id": n, "name": p} for n, p in enumerate(PROFESSIONS, 1)]


def customer_types() -> list[Row]:
    """`GET /customer-types`: id, description."""
    return [{"id": n, "description": d} for n, d in enumerate(CUSTOMER_TYPES, 1)]


def property_types() -> list[Row]:
    """`GET /property-types`: id, name, residential."""
    return [{"id": n, "name": name, "residential": res} for n, (name, res) in enumerate(PROPERTY_TYPES, 1)]


def cities() -> list[Row]:
    """`GET /cities`: id (the IBGE code here), name, state{id, name, code}."""
    rows = [
        {"id": c.ibge, "name": c.name, "state": {"id": STATES[c.uf][0], "name": c.state_name, "code": c.uf}}
        for c in CITIES
    ]
    return sorted(rows, key=lambda r: r["id"])


def departments() -> list[Row]:
    """`GET /departments`: departmentId, departmentName, directorate{}, active, managerName, flag."""
    names = (
        ("Engenharia", 1), ("Suprimentos", 2), ("Financeiro", 3), ("Contabilidade", 3), ("Comercial", 4),
        ("Recursos Humanos", 2), ("Jurídico", 3), ("Tecnologia da Informação", 2), ("Incorporação", 4),
        ("Assistência Técnica", 1), ("Segurança do Trabalho", 1), ("Marketing", 4),
    )  # fmt: skip
    directorates = {
        1: "Diretoria de Obras",
        2: "Diretoria Administrativa",
        3: "Diretoria Financeira",
        4: "Diretoria Comercial",
    }
    managers = ("Carlos Mendes", "Ana Paula Costa", None, "Roberto Lima", "Fernanda Souza", None)
    return [
        {
            "departmentId": n,
            "departmentName": name,
            "directorate": {"directorateId": d, "name": directorates[d]},
            "active": n != 12,
            "managerName": managers[n % len(managers)],
            "purchaseRequestAttachmentRequired": n in (1, 2),
        }
        for n, (name, d) in enumerate(names, 1)
    ]


def units_of_measure() -> list[Row]:
    """`GET /units-of-measure`: id, symbol, description, magnitude, isUnitOfTime, numberOfHours, status."""
    units = (
        ("un", "Unidade", "Quantidade"), ("m", "Metro", "Comprimento"), ("m²", "Metro quadrado", "Área"),
        ("m³", "Metro cúbico", "Volume"), ("kg", "Quilograma", "Massa"), ("t", "Tonelada", "Massa"),
        ("l", "Litro", "Volume"), ("cx", "Caixa", "Quantidade"), ("sc", "Saco", "Quantidade"),
        ("pç", "Peça", "Quantidade"), ("rl", "Rolo", "Quantidade"), ("gl", "Galão", "Volume"),
        ("lata", "Lata", "Quantidade"), ("vb", "Verba", "Quantidade"), ("cj", "Conjunto", "Quantidade"),
        ("km", "Quilômetro", "Comprimento"), ("ml", "Metro linear", "Comprimento"), ("par", "Par", "Quantidade"),
        ("h", "Hora", "Tempo"), ("dia", "Dia", "Tempo"), ("mês", "Mês", "Tempo"), ("sem", "Semana", "Tempo"),
        ("kWh", "Quilowatt-hora", "Energia"), ("pt", "Ponto", "Quantidade"),
    )  # fmt: skip
    hours = {"h": 1, "dia": 8, "mês": 220, "sem": 44}
    return [
        {
            "id": n,
            "symbol": symbol,
            "description": description,
            "magnitude": magnitude,
            "isUnitOfTime": magnitude == "Tempo",
            "numberOfHours": hours.get(symbol),
            "status": "INACTIVE" if symbol == "pt" else "ACTIVE",
        }
        for n, (symbol, description, magnitude) in enumerate(units, 1)
    ]


def payment_categories() -> list[Row]:
    """`GET /payment-categories`: a bare array; ids are strings (hierarchical codes without dots)."""
    tree = {
        "1": ("RECEITAS", {
            "101": ("Receitas de vendas", ("Venda de unidades", "Correção monetária", "Juros contratuais", "Multas recebidas")),
            "102": ("Receitas financeiras", ("Rendimentos de aplicações", "Descontos obtidos")),
            "103": ("Deduções da receita", ("Distratos", "Descontos concedidos")),
        }),
        "2": ("DESPESAS", {
            "201": ("Custos de obra", ("Materiais", "Mão de obra", "Equipamentos", "Serviços terceirizados", "Projetos")),
            "202": ("Despesas administrativas", ("Salários", "Encargos sociais", "Aluguel", "Energia elétrica", "Telefonia")),
            "203": ("Impostos e taxas", ("PIS", "COFINS", "IRPJ", "CSLL", "ISS", "IPTU")),
            "204": ("Despesas financeiras", ("Juros pagos", "Tarifas bancárias", "Adiantamentos a fornecedores")),
        }),
    }  # fmt: skip
    rows: list[Row] = []
    for top, (top_name, groups) in tree.items():
        rows.append(_category(top, top_name, "T"))
        for code, (name, leaves) in groups.items():
            rows.append(_category(code, name, "T"))
            for n, leaf in enumerate(leaves, 1):
                rows.append(_category(f"{code}{n:02d}", leaf, "R", deduction=code == "103", tax=code == "203"))
    rows.append(_category("10199", "Outras receitas (inativa)", "R", active=False))
    return rows


def _category(code: str, name: str, kind: str, deduction: bool = False, tax: bool = False, active: bool = True) -> Row:
    yes_no = {True: "S", False: "N"}
    return {
        "id": code,
        "name": name,
        "tpConta": kind,
        "flRedutora": yes_no[deduction],
        "flAtiva": yes_no[active],
        "flAdiantamento": yes_no["Adiantamentos" in name],
        "flImposto": yes_no[tax],
    }


def indexers() -> list[Row]:
    """`GET /indexers`: id, name, revenueRetroactivity, lastValue{date, value, percentage}."""
    data = (
        ("INCC-M", 1189.532, 0.51), ("IGP-M", 1312.774, -0.23), ("IPCA", 7115.49, 0.39), ("CUB/SC", 3021.15, 0.28),
        ("TR", 1.0012, 0.0012), ("Poupança", 1.0065, 0.65), ("Dólar", 5.4312, 1.12), ("Sem correção", None, None),
    )  # fmt: skip
    return [
        {
            "id": n,
            "name": name,
            "revenueRetroactivity": 0 if value is None else 1,
            "lastValue": None if value is None else {"date": "2026-06-01", "value": value, "percentage": pct},
        }
        for n, (name, value, pct) in enumerate(data, 1)
    ]


def payment_condition_types() -> list[Row]:
    """`GET /payment-condition-types`: id, description, finalityType, interval, intervalType, everMonthly, installmentsNumber."""
    data = (
        ("Ato", "Venda", 0, "M", "N", 1), ("Sinal", "Venda", 0, "M", "N", 1), ("Parcelas mensais", "Venda", 1, "M", "S", 60),
        ("Intermediárias semestrais", "Venda", 6, "M", "N", 8), ("Parcelas anuais", "Venda", 12, "M", "N", 5),
        ("Chaves", "Venda", 0, "M", "N", 1), ("Financiamento bancário", "Venda", 0, "M", "N", 1),
        ("Aluguel mensal", "Locação", 1, "M", "S", 30), ("Parcelas semanais", "Venda", 1, "S", "N", 12),
        ("Permuta", "Venda", 0, "M", "N", 1),
    )  # fmt: skip
    return [
        {
            "id": n,
            "description": d,
            "finalityType": f,
            "interval": i,
            "intervalType": it,
            "everMonthly": em,
            "installmentsNumber": k,
        }
        for n, (d, f, i, it, em, k) in enumerate(data, 1)
    ]


def bearers_receivable() -> list[Row]:
    """`GET /bearers-receivable`: bearerId, bearerName and three flags."""
    names = (
        "Carteira",
        "Banco do Brasil - Cobrança",
        "Caixa Econômica - SFH",
        "Itaú - Boleto",
        "Cobrança jurídica",
        "Sicoob - Boleto",
    )
    return [
        {
            "bearerId": n,
            "bearerName": name,
            "bearerWallet": n == 1,
            "bearerInCharge": n in (2, 4, 6),
            "bearerDebtWorkout": n == 5,
        }
        for n, name in enumerate(names, 1)
    ]


def resource_groups() -> list[Row]:
    """`GET /resource-groups`: referenceId ('02', '02.001'), description, category, laborBurden, bdi, status, level."""
    groups = (
        ("01", "Materiais básicos", "MATERIAL", ("Cimento e argamassas", "Agregados", "Aço e ferragens", "Blocos e tijolos", "Madeiras")),
        ("02", "Mão de obra", "LABOR", ("Pedreiros", "Serventes", "Carpinteiros", "Armadores", "Eletricistas", "Encanadores")),
        ("03", "Equipamentos", "EQUIPMENT", ("Betoneiras", "Andaimes", "Gruas e elevadores", "Ferramentas elétricas")),
        ("04", "Instalações", "MATERIAL", ("Elétricas", "Hidrossanitárias", "Gás", "Incêndio")),
        ("05", "Acabamentos", "MATERIAL", ("Pisos e revestimentos", "Tintas", "Louças e metais", "Esquadrias", "Vidros")),
        ("06", "Serviços de terceiros", "OTHER", ("Terraplenagem", "Fundações", "Impermeabilização", "Transporte")),
        ("07", "Material de escritório", "OFFICE_SUPPLY", ("Papelaria", "Suprimentos de informática")),
    )  # fmt: skip
    rows: list[Row] = []
    for ref, name, category, children in groups:
        burden = 0.0 if category != "LABOR" else 118.5
        rows.append(_group(ref, name, category, burden, 1, "ACTIVE"))
        for n, child in enumerate(children, 1):
            rows.append(
                _group(f"{ref}.{n:03d}", child, category, burden, 2, "INACTIVE" if child == "Gás" else "ACTIVE")
            )
    return rows


def _group(ref: str, name: str, category: str, burden: float, level: int, status: str) -> Row:
    return {
        "referenceId": ref,
        "description": name,
        "category": category,
        "laborBurden": burden,
        "bdi": 22.5,
        "status": status,
        "level": level,
    }


def supply_categories() -> list[Row]:
    """`GET /supply-categories`: id, description, status."""
    names = (
        "Materiais de construção", "Elétrica", "Hidráulica", "Ferramentas", "EPI", "Escritório", "Limpeza",
        "Combustíveis e lubrificantes", "Manutenção", "Informática", "Acabamentos", "Madeiras", "Aço",
        "Concreto usinado", "Locação de equipamentos", "Serviços", "Transporte", "Alimentação", "Brindes", "Diversos",
    )  # fmt: skip
    return [
        {"id": n, "description": d, "status": "INACTIVE" if d == "Brindes" else "ACTIVE"}
        for n, d in enumerate(names, 1)
    ]
