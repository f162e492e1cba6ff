"""Contacts (`/contatos`) of one Bling account: customers, suppliers, carriers, with valid CPF/CNPJ.

Shapes follow the OpenAPI `ContatosDadosBaseDTO` (list) and `ContatosDadosDTO` (detail). About three in four
are people (CPF), the rest companies (CNPJ) and a few foreigners (no document). `situacao` A/E/I/S spreads
over active, excluded, inactive and "sem movimentação" contacts, so `criterio` has something to select.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from ponte.sandbox import brdata as br
from ponte.sandbox.bling.company import ZERO_DATE, Company, Rec, ident, later, spread

SALT = 800
BASE_ID = 17_210_000_000
BASE_TYPE = 9_870_000_000
BASE_SELLER = 15_140_000_000
BASE_FIN_CATEGORY = 8_630_000_000
FIRST = dt.datetime(2021, 6, 1, 9, 0)
LAST = dt.datetime(2026, 6, 28, 18, 0)
TYPES = ("Cliente", "Fornecedor", "Transportador")
SUPPLIERS = 6
CARRIERS = 3
COUNTRIES = ("ESTADOS UNIDOS", "PORTUGAL", "ARGENTINA", "URUGUAI")
CARRIER_NAMES = ("Transportes Rápido Sul", "Logística Expressa Nordeste", "Entregas Vale Verde", "TransLitoral Cargas")


@dataclass
class People:
    """Everything contacts-related an account needs elsewhere (sellers for orders, carriers, suppliers)."""

    contacts: list[Rec]
    types: dict[str, int]  # descricao -> tipo de contato id
    sellers: list[int]
    suppliers: list[Rec]
    carriers: list[Rec]
    customers: list[Rec]


def build(seed: int, company: Company, n: int, cap: dt.datetime) -> People:
    """n contacts (at least suppliers + carriers + one customer), oldest first."""
    no = company.no
    types = {name: ident(BASE_TYPE, no, k, seed, SALT + 1) for k, name in enumerate(TYPES)}
    sellers = [ident(BASE_SELLER, no, k, seed, SALT + 2) for k in range(3)]
    category = ident(BASE_FIN_CATEGORY, no, 0, seed, SALT + 3)
    total = max(n, SUPPLIERS + CARRIERS + 1)
    contacts: list[Rec] = []
    for seq in range(total):
        role = "Fornecedor" if seq < SUPPLIERS else "Transportador" if seq < SUPPLIERS + CARRIERS else "Cliente"
        key = no * 1_000_003 + seq
        created = spread(seed, SALT + 4 + no, seq, total, FIRST, LAST)
        modified = later(seed, SALT + 5, key, created, 0.35, 400, cap)
        cid = ident(BASE_ID, no, seq, seed, SALT + 6)
        data = _contact(seed, key, cid, role, types, sellers, category)
        contacts.append(Rec(cid, data, created, modified, excluded=data["situacao"] == "E"))
    return People(
        contacts=contacts,
        types=types,
        sellers=sellers,
        suppliers=contacts[:SUPPLIERS],
        carriers=contacts[SUPPLIERS : SUPPLIERS + CARRIERS],
        customers=[c for c in contacts[SUPPLIERS + CARRIERS :] if c.data["situacao"] != "E"] or contacts[-1:],
    )


def _contact(
    seed: int,
    key: int,
    cid: int,
    role: str,
    types: dict[str, int],
    sellers: list[int],
    category: int,
) -> dict[str, Any]:
    h = br.mix(seed, key, SALT + 7)
    roll = h % 100
    kind = "J" if role != "Cliente" or roll < 23 else "E" if roll < 25 else "F"
    where = br.city(seed, key, SALT + 8)
    street, number, hood = br.street(seed, key, SALT + 9)
    ddd, landline = br.phone(seed, key, where, mobile=False, salt=SALT + 10)
    _, mobile = br.phone(seed, key, where, mobile=True, salt=SALT + 11)
    address = {
        "endereco": street,
        "cep": br.format_cep(br.cep(seed, key, where, SALT + 12)),
        "bairro": hood,
        "municipio": where.name,
        "uf": where.uf,
        "numero": number,
        "complemento": ("", "", "Apto 101", "Sala 3", "Casa 2", "Bloco B")[(h >> 8) % 6],
    }
    if kind == "F":
        who = br.person(seed, key, SALT + 13)
        nome, fantasia = who.name, ""
        document = br.format_cpf(br.cpf(seed, key, SALT + 14))
        email = br.email(seed, key, who, SALT + 15)
        birth = dt.date(1950, 1, 1) + dt.timedelta(days=(h >> 12) % 20_000)
        extras = {"dataNascimento": birth.isoformat(), "sexo": "F" if who.female else "M", "naturalidade": "Brasileira"}
        ie, indicador, rg = "", 9, f"{(h >> 20) % 10**8:08d}{(h >> 50) % 10}"
    elif kind == "J":
        if role == "Transportador":
            fantasia = CARRIER_NAMES[key % len(CARRIER_NAMES)]
            nome = f"{fantasia} LTDA"
        else:
            nome, fantasia = _business_name(seed, key, role)
        document = br.format_cnpj(br.cnpj(seed, key, SALT + 17))
        email = f"financeiro@{br.slug(fantasia)}.com.br"
        extras = {"dataNascimento": ZERO_DATE, "sexo": "", "naturalidade": ""}
        ie, indicador, rg = f"{(h >> 16) % 10**9:09d}", 1, ""
    else:
        who = br.person(seed, key, SALT + 13)
        nome, fantasia, document, email = f"{who.first} {who.last}", "", "", f"{br.slug(who.first)}@example.com"
        extras = {"dataNascimento": ZERO_DATE, "sexo": "F" if who.female else "M", "naturalidade": "Estrangeira"}
        ie, indicador, rg = "", 9, ""
    situacao = "A"
    if role == "Cliente":
        situacao = "E" if roll >= 96 else "I" if roll >= 91 else "S" if roll >= 85 else "A"
    tipos = [{"id": types[role], "descricao": role}]
    if role == "Fornecedor" and h & 1:
        tipos.append({"id": types["Cliente"], "descricao": "Cliente"})
    return {
        "id": cid,
        "nome": nome,
        "codigo": f"{role[:3].upper()}-{key % 1_000_003:05d}" if (h >> 4) % 3 else "",
        "situacao": situacao,
        "numeroDocumento": document,
        "telefone": f"({ddd}) {landline}" if (h >> 6) % 3 else "",
        "celular": f"({ddd}) {mobile}",
        "fantasia": fantasia,
        "tipo": kind,
        "indicadorIe": indicador,
        "ie": ie,
        "rg": rg,
        "inscricaoMunicipal": "",
        "orgaoEmissor": "SSP" if rg else "",
        "email": email,
        "emailNotaFiscal": email if kind == "J" else "",
        "orgaoPublico": "N",
        "endereco": {"geral": address, "cobranca": dict(address)},
        "vendedor": {"id": sellers[(h >> 24) % len(sellers)] if (h >> 28) % 10 < 3 else 0},
        "dadosAdicionais": extras,
        "financeiro": {
            "limiteCredito": float((h >> 32) % 5) * 1000.0 if kind == "J" else 0.0,
            "condicaoPagamento": ("", "30", "30 60", "28 56 84")[(h >> 36) % 4] if kind == "J" else "",
            "categoria": {"id": category},
        },
        "pais": {"nome": COUNTRIES[(h >> 40) % len(COUNTRIES)] if kind == "E" else "BRASIL"},
        "tiposContato": tipos,
        "pessoasContato": [],
    }


SUPPLIER_KINDS = ("Indústria Têxtil", "Distribuidora", "Importadora", "Cosméticos", "Atacadista", "Confecções")
CUSTOMER_KINDS = ("Comércio de Presentes", "Mercadinho", "Papelaria", "Pet Shop", "Boutique", "Empório", "Farmácia")


def _business_name(seed: int, key: int, role: str) -> tuple[str, str]:
    """(razão social, fantasia) of a supplier or a business customer."""
    h = br.mix(seed, key, SALT + 16)
    kinds = SUPPLIER_KINDS if role == "Fornecedor" else CUSTOMER_KINDS
    trade = br.COMPANY_NAME[(h >> 8) % len(br.COMPANY_NAME)]
    suffix = br.COMPANY_SUFFIX[(h >> 16) % len(br.COMPANY_SUFFIX)]
    return f"{kinds[h % len(kinds)]} {trade} {suffix}", f"{kinds[h % len(kinds)]} {trade}"


LIST_FIELDS = ("id", "nome", "codigo", "situacao", "numeroDocumento", "telefone", "celular")


def list_row(rec: Rec) -> dict[str, Any]:
    """The list form (ContatosDadosBaseDTO)."""
    return {name: rec.data[name] for name in LIST_FIELDS}


def tipo_pessoa(rec: Rec) -> str:
    """F, J or E."""
    return str(rec.data["tipo"])


def digits(text: str) -> str:
    """A document without punctuation."""
    return "".join(c for c in text if c.isdigit())
