"""Sales orders (`/pedidos/vendas`) and production orders (`/ordens-producao`) of one Bling account.

Sales orders come from marketplaces (Mercado Livre, Shopee), the account's own web shop or the counter, over the
eighteen months before the sandbox clock, so a one-year date window does not cover them all. Items point at real
products of the account, customers at its contacts; totals add up (items - discounts + freight). Orders still
open reserve stock. Shapes: VendasDadosBaseDTO (list) + VendasDadosDTO (detail); production orders:
OrdensProducaoDadosBaseDTO (list) + OrdensProducaoDadosDTO (detail).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from ponte.sandbox import brdata as br
from ponte.sandbox.bling.catalog import Catalog, money
from ponte.sandbox.bling.company import ZERO_DATE, Company, Rec, ident, later, spread
from ponte.sandbox.bling.contacts import People, digits

SALT = 1100
BASE_ORDER = 21_960_000_000
BASE_ITEM = 22_470_000_000
BASE_INSTALLMENT = 22_980_000_000
BASE_STORE = 203_400_000
BASE_PAYMENT = 2_361_000_000
BASE_NATURE = 1_540_000_000
BASE_SALES_CATEGORY = 8_640_000_000
BASE_INVOICE = 20_750_000_000
BASE_VOLUME = 24_010_000_000
BASE_PRODUCTION = 18_520_000_000
BASE_PRODUCTION_STATE = 1_871_000_000
FIRST = dt.datetime(2025, 1, 2, 9, 0)
LAST = dt.datetime(2026, 6, 30, 20, 0)

# (id, valor) of the account's default order situations [G: ids are per account; these are the usual values]
SITUATIONS = {
    "Em aberto": (6, 0),
    "Atendido": (9, 1),
    "Cancelado": (12, 2),
    "Em andamento": (15, 3),
    "Verificado": (24, 4),
}
OPEN = ("Em aberto", "Em andamento")
STORES = ("Balcão", "Mercado Livre", "Shopee", "Loja Virtual")
SERVICES_FREIGHT = ("PAC", "SEDEX", "ME2", "Shopee Xpress", "Jadlog .Package")
PAYMENTS = ("Pix", "Cartão de crédito", "Boleto bancário", "Dinheiro")
PRODUCTION_STATES = ("Em aberto", "Em andamento", "Finalizada", "Cancelada")
RESPONSIBLE = ("Carla Mendes", "Rogério Lima", "Equipe Produção", "Juliana Prado")


def stores(seed: int, company: Company) -> list[int]:
    """Loja ids: 0 is a sale without a store (the counter), then one per sales channel."""
    return [0] + [ident(BASE_STORE, company.no, k, seed, SALT) for k in range(1, len(STORES))]


def build_orders(
    seed: int, company: Company, n: int, catalog: Catalog, people: People, cap: dt.datetime
) -> tuple[list[Rec], list[tuple[int, float]]]:
    """n orders, oldest first, and the (product id, quantity) reservations of the open ones."""
    no = company.no
    sellable = [
        r for r in catalog.products if r.data["formato"] != "V" and not r.excluded and r.data["situacao"] == "A"
    ]
    store_ids = stores(seed, company)
    payments = [ident(BASE_PAYMENT, no, k, seed, SALT + 1) for k in range(len(PAYMENTS))]
    nature = ident(BASE_NATURE, no, 0, seed, SALT + 2)
    category = ident(BASE_SALES_CATEGORY, no, 0, seed, SALT + 3)
    marketplaces = {k: br.cnpj(seed, k, SALT + 4) for k in range(1, 3)}
    orders: list[Rec] = []
    reservations: list[tuple[int, float]] = []
    item_seq = installment_seq = invoice_seq = 0
    for seq in range(n):
        key = no * 1_000_003 + seq
        h = br.mix(seed, key, SALT + 5)
        created = spread(seed, SALT + 6 + no, seq, n, FIRST, LAST)
        day = created.date()
        state = _situation(h, day, cap.date())
        modified = later(seed, SALT + 7, key, created, 0.6 if state != "Em aberto" else 0.1, 20, cap)
        customer = people.customers[(h >> 8) % len(people.customers)]
        channel = (h >> 16) % len(STORES)
        items = []
        for k in range(1 + (h >> 20) % 3 if sellable else 0):
            product = sellable[(h >> (24 + 5 * k)) % len(sellable)]
            quantity = float(1 + (h >> (40 + k)) % 3)
            price = product.data["preco"]
            discount = money(price * quantity * 0.05) if (h >> (50 + k)) % 5 == 0 else 0.0
            items.append(
                {
                    "id": ident(BASE_ITEM, no, item_seq, seed, SALT + 8),
                    "codigo": product.data["codigo"],
                    "unidade": product.data["unidade"],
                    "quantidade": quantity,
                    "desconto": discount,
                    "valor": price,
                    "aliquotaIPI": 0.0,
                    "descricao": product.data["nome"],
                    "descricaoDetalhada": "",
                    "produto": {"id": product.id},
                    "comissao": {"base": money(price * quantity - discount), "aliquota": 0.0, "valor": 0.0},
                    "naturezaOperacao": {"id": nature},
                }
            )
            item_seq += 1
            if state in OPEN:
                reservations.append((product.id, quantity))
        products_total = money(sum(i["valor"] * i["quantidade"] - i["desconto"] for i in items))
        freight = 0.0 if channel == 0 or products_total >= 199 else money(9.9 + (h >> 44) % 40)
        total = money(products_total + freight)
        parts = 1 if channel != 1 else 1 + (h >> 46) % 3
        installments = []
        for k in range(parts):
            value = money(total / parts) if k < parts - 1 else money(total - money(total / parts) * (parts - 1))
            installments.append(
                {
                    "id": ident(BASE_INSTALLMENT, no, installment_seq, seed, SALT + 9),
                    "dataVencimento": (day + dt.timedelta(days=30 * k)).isoformat(),
                    "valor": value,
                    "observacoes": "",
                    "caut": "",
                    "formaPagamento": {"id": payments[(h >> 48) % len(payments) if channel == 0 else (h >> 48) % 3]},
                }
            )
            installment_seq += 1
        invoice = 0
        if state in ("Atendido", "Verificado"):
            invoice = ident(BASE_INVOICE, no, invoice_seq, seed, SALT + 10)
            invoice_seq += 1
        oid = ident(BASE_ORDER, no, seq, seed, SALT + 11)
        data = {
            "id": oid,
            "numero": 10_001 + seq,
            "numeroLoja": _store_number(channel, h, day),
            "data": day.isoformat(),
            "dataSaida": (day + dt.timedelta(days=1 + (h >> 52) % 3)).isoformat() if invoice else ZERO_DATE,
            "dataPrevista": (day + dt.timedelta(days=3 + (h >> 54) % 10)).isoformat(),
            "totalProdutos": products_total,
            "total": total,
            "contato": {
                "id": customer.id,
                "nome": customer.data["nome"],
                "tipoPessoa": customer.data["tipo"],
                "numeroDocumento": digits(customer.data["numeroDocumento"]),
            },
            "situacao": {"id": SITUATIONS[state][0], "valor": SITUATIONS[state][1]},
            "loja": {"id": store_ids[channel], "unidadeNegocio": {"id": 0}},
            "numeroPedidoCompra": "",
            "outrasDespesas": 0.0,
            "observacoes": "",
            "observacoesInternas": "Pedido importado do marketplace" if channel in (1, 2) else "",
            "desconto": {"valor": 0.0, "unidade": "REAL"},
            "categoria": {"id": category},
            "notaFiscal": {"id": invoice},
            "tributacao": {"totalICMS": money(products_total * 0.18) if invoice else 0.0, "totalIPI": 0.0},
            "itens": items,
            "parcelas": installments,
            "transporte": _transport(seed, no, seq, h, freight, items, customer, people, catalog),
            "vendedor": {"id": people.sellers[(h >> 56) % len(people.sellers)] if channel == 0 else 0},
            "intermediador": {
                "cnpj": marketplaces.get(channel, ""),
                "nomeUsuario": br.slug(customer.data["nome"].split(" ")[0]) + str(h % 1000)
                if channel in marketplaces
                else "",
            },
            "taxas": {
                "taxaComissao": money(products_total * 0.14) if channel in marketplaces else 0.0,
                "custoFrete": freight,
                "valorBase": products_total,
            },
        }
        orders.append(Rec(oid, data, created, modified))
    return orders, reservations


def _situation(h: int, day: dt.date, today: dt.date) -> str:
    age = (today - day).days
    roll = (h >> 4) % 100
    if age < 10:
        return "Em aberto" if roll < 45 else "Em andamento" if roll < 75 else "Atendido"
    return "Cancelado" if roll < 8 else "Verificado" if roll < 14 else "Atendido"


def _store_number(channel: int, h: int, day: dt.date) -> str:
    if channel == 1:
        return f"2000{(h >> 10) % 10**12:012d}"
    if channel == 2:
        return f"{day:%y%m%d}{(h >> 10) % 36**8:08X}"[:14]
    if channel == 3:
        return f"#{(h >> 10) % 100_000:05d}"
    return ""


def _transport(
    seed: int,
    no: int,
    seq: int,
    h: int,
    freight: float,
    items: list[dict[str, Any]],
    customer: Rec,
    people: People,
    catalog: Catalog,
) -> dict[str, Any]:
    carrier = people.carriers[(h >> 30) % len(people.carriers)]
    address = customer.data["endereco"]["geral"]
    weight = sum(catalog.by_id[i["produto"]["id"]].data["pesoBruto"] * i["quantidade"] for i in items)
    service = SERVICES_FREIGHT[(h >> 34) % len(SERVICES_FREIGHT)]
    return {
        "fretePorConta": 0 if freight else 1,
        "frete": freight,
        "quantidadeVolumes": 1,
        "pesoBruto": round(weight, 3),
        "prazoEntrega": int(2 + (h >> 36) % 9),
        "contato": {"id": carrier.id, "nome": carrier.data["nome"]},
        "etiqueta": {
            "nome": customer.data["nome"],
            "endereco": address["endereco"],
            "numero": address["numero"],
            "complemento": address["complemento"],
            "municipio": address["municipio"],
            "uf": address["uf"],
            "cep": address["cep"],
            "bairro": address["bairro"],
            "nomePais": "BRASIL",
        },
        "volumes": [
            {
                "id": ident(BASE_VOLUME, no, seq, seed, SALT + 12),
                "servico": service,
                "codigoRastreamento": f"{'AB' if service in ('PAC', 'SEDEX') else 'BR'}{(h >> 38) % 10**9:09d}BR",
            }
        ],
    }


LIST_FIELDS = (
    "id",
    "numero",
    "numeroLoja",
    "data",
    "dataSaida",
    "dataPrevista",
    "totalProdutos",
    "total",
    "contato",
    "situacao",
    "loja",
)


def order_row(rec: Rec) -> dict[str, Any]:
    """The list form (VendasDadosBaseDTO)."""
    return {name: rec.data[name] for name in LIST_FIELDS}


# --- production orders ----------------------------------------------------------------------------------------
def build_production(seed: int, company: Company, catalog: Catalog, orders: list[Rec], cap: dt.datetime) -> list[Rec]:
    """A dozen-ish production orders of kits and in-house products, oldest first."""
    no = company.no
    made_here = [
        r
        for r in catalog.products
        if r.data["tipoProducao"] == "P" and r.data["formato"] != "V" and r.data["tipo"] == "P"
    ]
    if not made_here:
        return []
    states = {name: ident(BASE_PRODUCTION_STATE, no, k, seed, SALT + 13) for k, name in enumerate(PRODUCTION_STATES)}
    default = next(d.id for d in catalog.deposits if d.data["padrao"])
    n = max(4, len(catalog.products) // 10)
    out = []
    for seq in range(n):
        key = no * 1_000_003 + seq
        h = br.mix(seed, key, SALT + 14)
        created = spread(seed, SALT + 15 + no, seq, n, dt.datetime(2025, 3, 1, 8, 0), cap - dt.timedelta(days=1))
        start = created.date() + dt.timedelta(days=1 + (h >> 4) % 5)
        finish = start + dt.timedelta(days=2 + (h >> 8) % 10)
        age = (cap.date() - created.date()).days
        state = "Em aberto" if age < 7 else "Em andamento" if age < 20 else "Cancelada" if h % 10 == 0 else "Finalizada"
        started = state in ("Em andamento", "Finalizada")
        items = []
        for k in range(1 + (h >> 12) % 2):
            product = made_here[(h >> (16 + 6 * k)) % len(made_here)]
            items.append(
                {
                    "produto": {"id": product.id, "nome": product.data["nome"], "codigo": product.data["codigo"]},
                    "quantidade": float(5 * (1 + (h >> (30 + k)) % 10)),
                }
            )
        linked = [orders[(h >> 42) % len(orders)]] if orders and (h >> 40) % 3 == 0 else []
        pid = ident(BASE_PRODUCTION, no, seq, seed, SALT + 16)
        data = {
            "id": pid,
            "dataPrevisaoInicio": start.isoformat(),
            "dataPrevisaoFinal": finish.isoformat(),
            "dataInicio": start.isoformat() if started else ZERO_DATE,
            "dataFim": finish.isoformat() if state == "Finalizada" else ZERO_DATE,
            "numero": 1 + seq,
            "responsavel": RESPONSIBLE[(h >> 44) % len(RESPONSIBLE)],
            "deposito": {"idDestino": default, "idOrigem": default},
            "situacao": {"id": states[state], "valor": PRODUCTION_STATES.index(state), "nome": state},
            "vendas": [
                {
                    "numero": o.data["numero"],
                    "contato": {"id": o.data["contato"]["id"], "nome": o.data["contato"]["nome"]},
                }
                for o in linked
            ],
            "itens": items,
            "observacoes": "",
        }
        out.append(Rec(pid, data, created, created))
    return out


PRODUCTION_LIST_FIELDS = (
    "id",
    "dataPrevisaoInicio",
    "dataPrevisaoFinal",
    "dataInicio",
    "dataFim",
    "numero",
    "responsavel",
    "deposito",
    "situacao",
)


def production_row(rec: Rec) -> dict[str, Any]:
    """The list form (OrdensProducaoDadosBaseDTO)."""
    return {name: rec.data[name] for name in PRODUCTION_LIST_FIELDS}
