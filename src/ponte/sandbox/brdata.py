"""Deterministic Brazilian fake data, keyed by (seed, index).

Every value is a pure function of its key, so record 999_999 costs the same as record 0 and a sandbox can
serve a million customers without holding them: no Faker, no shared random state, no lists that grow.
Documents (CPF, CNPJ) carry correct check digits and are invertible, so a filter such as `?cpf=...` finds
its record in O(1) instead of scanning.
"""

from __future__ import annotations

import datetime as dt
import functools
from operator import mul
from typing import NamedTuple

from ponte.sandbox.brcities import CITIES, STATES, City

M64 = (1 << 64) - 1

__all__ = [
    "CITIES",
    "STATES",
    "City",
    "cep",
    "city",
    "cnpj",
    "cnpj_check_digits",
    "cnpj_index",
    "company_name",
    "cpf",
    "cpf_check_digits",
    "cpf_index",
    "date_between",
    "email",
    "format_cep",
    "format_cnpj",
    "format_cpf",
    "mix",
    "person",
    "phone",
    "slug",
    "street",
]


def mix(seed: int, index: int, salt: int = 0) -> int:
    """A 64-bit hash of (seed, index, salt) (splitmix64 finaliser): the only source of randomness here."""
    z = (seed * 0x9E3779B97F4A7C15 + index * 0xBF58476D1CE4E5B9 + salt * 0xD6E8FEB86659FD93 + 0x632BE59BD9B4E019) & M64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return z ^ (z >> 31)


FEMALE = (
    "Ana", "Maria", "Juliana", "Fernanda", "Patrícia", "Aline", "Camila", "Amanda", "Bruna", "Letícia",
    "Beatriz", "Larissa", "Gabriela", "Mariana", "Vanessa", "Luciana", "Adriana", "Cláudia", "Débora", "Renata",
    "Simone", "Sandra", "Tatiane", "Daniela", "Carolina", "Isabela", "Júlia", "Raquel", "Priscila", "Helena",
)  # fmt: skip
MALE = (
    "José", "João", "Antônio", "Francisco", "Carlos", "Paulo", "Pedro", "Lucas", "Luiz", "Marcos",
    "Luís", "Gabriel", "Rafael", "Daniel", "Marcelo", "Bruno", "Eduardo", "Felipe", "Rodrigo", "Gustavo",
    "Fernando", "Ricardo", "André", "Fábio", "Leandro", "Thiago", "Diego", "Vinícius", "Mateus", "Sérgio",
)  # fmt: skip
SURNAMES = (
    "Silva", "Santos", "Oliveira", "Souza", "Rodrigues", "Ferreira", "Alves", "Pereira", "Lima", "Gomes",
    "Costa", "Ribeiro", "Martins", "Carvalho", "Almeida", "Lopes", "Soares", "Fernandes", "Vieira", "Barbosa",
    "Rocha", "Dias", "Nascimento", "Andrade", "Moreira", "Nunes", "Marques", "Machado", "Mendes", "Freitas",
    "Cardoso", "Ramos", "Gonçalves", "Santana", "Teixeira", "Araújo", "Correia", "Pinto", "Moraes", "Cavalcanti",
    "Batista", "Campos", "Monteiro", "Bezerra", "Schmidt", "Becker", "Tavares", "Coelho", "Duarte", "Medeiros",
)  # fmt: skip
COMPANY_CORE = (
    "Construtora", "Incorporadora", "Engenharia", "Materiais de Construção", "Empreendimentos", "Imobiliária",
    "Concreto", "Terraplenagem", "Serviços Elétricos", "Hidráulica", "Esquadrias", "Vidraçaria", "Pisos",
    "Tintas", "Locação de Equipamentos", "Transportes", "Projetos", "Ferragens", "Madeireira", "Metalúrgica",
)  # fmt: skip
COMPANY_NAME = (
    "Horizonte", "Atlântico", "Serra Azul", "Pinheiral", "Ipê", "Aroeira", "Bela Vista", "Nova Era", "Aliança",
    "Boa Esperança", "Litoral", "Cerrado", "Jequitibá", "Paraná", "Vale Verde", "Solar", "Rio Claro", "Ponte Alta",
    "Três Irmãos", "Santa Clara", "Monte Alegre", "Sul", "Planalto", "Catarinense", "Mineira", "Paulista",
)  # fmt: skip
COMPANY_SUFFIX = ("LTDA", "LTDA", "LTDA", "S/A", "ME", "EIRELI")
STREET_TYPES = ("Rua", "Rua", "Rua", "Avenida", "Avenida", "Travessa", "Alameda", "Servidão", "Rodovia")
STREET_NAMES = (
    "XV de Novembro", "Sete de Setembro", "Tiradentes", "Dom Pedro II", "Marechal Deodoro", "Getúlio Vargas",
    "Santos Dumont", "Rui Barbosa", "das Flores", "dos Ipês", "das Palmeiras", "Barão do Rio Branco", "Brasil",
    "Presidente Kennedy", "Anita Garibaldi", "Duque de Caxias", "Castro Alves", "Machado de Assis",
    "Osvaldo Cruz", "Joaquim Nabuco", "Bento Gonçalves", "Padre Anchieta", "São João", "Beira-Mar", "Central",
    "Independência", "dos Bandeirantes", "Vereador Osni Ortiga", "Lauro Linhares", "Hercílio Luz",
)  # fmt: skip
NEIGHBORHOODS = (
    "Centro", "Jardim América", "Vila Nova", "Boa Vista", "Santa Mônica", "Trindade", "Itacorubi", "Bela Vista",
    "Jardim Europa", "Campinas", "Estreito", "Coqueiros", "Ingleses", "Vila Mariana", "Liberdade", "Floresta",
    "Copacabana", "Savassi", "Boqueirão", "Aldeota", "Pituba", "Batel", "Moinhos de Vento", "Industrial",
)  # fmt: skip
EMAIL_DOMAINS = ("gmail.com", "hotmail.com", "outlook.com", "yahoo.com.br", "uol.com.br", "terra.com.br")
_ASCII = str.maketrans("áàâãéêíóôõúüçÁÀÂÃÉÊÍÓÔÕÚÜÇ", "aaaaeeiooouucAAAAEEIOOOUUC")


class Person(NamedTuple):
    """A generated natural person: enough for a customer, a spouse or a contact."""

    name: str
    first: str
    last: str
    female: bool


def person(seed: int, index: int, salt: int = 1) -> Person:
    """Full name with two surnames; about half are women."""
    h = mix(seed, index, salt)
    female = bool(h & 1)
    firsts = FEMALE if female else MALE
    first = firsts[(h >> 1) % len(firsts)]
    middle = SURNAMES[(h >> 9) % len(SURNAMES)]
    last = SURNAMES[(h >> 17) % len(SURNAMES)]
    return Person(f"{first} {middle} {last}", first, last, female)


def company_name(seed: int, index: int, salt: int = 2) -> tuple[str, str]:
    """(legal name, trade name), e.g. ('Construtora Horizonte LTDA', 'Horizonte')."""
    h = mix(seed, index, salt)
    core = COMPANY_CORE[h % len(COMPANY_CORE)]
    name = COMPANY_NAME[(h >> 8) % len(COMPANY_NAME)]
    suffix = COMPANY_SUFFIX[(h >> 16) % len(COMPANY_SUFFIX)]
    if (h >> 24) % 3 == 0:
        name = f"{name} {SURNAMES[(h >> 28) % len(SURNAMES)]}"
    return f"{core} {name} {suffix}", name


# --- documents --------------------------------------------------------------------------------------------
# The base of a document is an affine bijection of the index modulo 10^k, so it can be inverted exactly.
_CPF_MOD, _CPF_MUL = 10**9, 387_420_489  # 3^18: coprime with 10
_CNPJ_MOD, _CNPJ_MUL = 10**8, 43_046_721  # 3^16: coprime with 10


@functools.lru_cache(maxsize=256)
def _offset(seed: int, salt: int, modulus: int) -> int:
    return mix(seed, 0, 1000 + salt) % modulus


_CPF_WEIGHTS = ((10, 9, 8, 7, 6, 5, 4, 3, 2), (11, 10, 9, 8, 7, 6, 5, 4, 3, 2))
_CNPJ_WEIGHTS = ((5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2), (6, 5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2))


def _check_digits(base: str, weights: tuple[tuple[int, ...], tuple[int, ...]]) -> str:
    digits = list(map(int, base))
    first = sum(map(mul, digits, weights[0])) % 11
    digits.append(0 if first < 2 else 11 - first)
    second = sum(map(mul, digits, weights[1])) % 11
    return f"{digits[-1]}{0 if second < 2 else 11 - second}"


def cpf_check_digits(base9: str) -> str:
    """The two CPF check digits (mod 11, weights 10..2 then 11..2) for nine base digits."""
    return _check_digits(base9, _CPF_WEIGHTS)


def cnpj_check_digits(base12: str) -> str:
    """The two CNPJ check digits (mod 11) for twelve base digits."""
    return _check_digits(base12, _CNPJ_WEIGHTS)


def cpf(seed: int, index: int, salt: int = 0) -> str:
    """An 11-digit valid CPF, unique per (seed, salt) for index < 10^9; digits only, as Sienge returns it."""
    base = f"{(index * _CPF_MUL + _offset(seed, salt, _CPF_MOD)) % _CPF_MOD:09d}"
    return base + cpf_check_digits(base)


def cpf_index(seed: int, document: str, salt: int = 0) -> int | None:
    """Inverse of `cpf`: the index whose CPF this is, or None when the document is not one of ours."""
    digits = "".join(c for c in document if c.isdigit())
    if len(digits) != 11 or cpf_check_digits(digits[:9]) != digits[9:]:
        return None
    inverse = pow(_CPF_MUL, -1, _CPF_MOD)
    return ((int(digits[:9]) - _offset(seed, salt, _CPF_MOD)) * inverse) % _CPF_MOD


def cnpj(seed: int, index: int, salt: int = 0) -> str:
    """A 14-digit valid CNPJ of a head office (branch 0001), unique per (seed, salt) for index < 10^8."""
    base = f"{(index * _CNPJ_MUL + _offset(seed, salt, _CNPJ_MOD)) % _CNPJ_MOD:08d}0001"
    return base + cnpj_check_digits(base)


def cnpj_index(seed: int, document: str, salt: int = 0) -> int | None:
    """Inverse of `cnpj`, or None when the document is not one of ours."""
    digits = "".join(c for c in document if c.isdigit())
    if len(digits) != 14 or digits[8:12] != "0001" or cnpj_check_digits(digits[:12]) != digits[12:]:
        return None
    inverse = pow(_CNPJ_MUL, -1, _CNPJ_MOD)
    return ((int(digits[:8]) - _offset(seed, salt, _CNPJ_MOD)) * inverse) % _CNPJ_MOD


def format_cpf(digits: str) -> str:
    """'12345678909' -> '123.456.789-09'."""
    return f"{digits[:3]}.{digits[3:6]}.{digits[6:9]}-{digits[9:]}"


def format_cnpj(digits: str) -> str:
    """'11222333000181' -> '11.222.333/0001-81'."""
    return f"{digits[:2]}.{digits[2:5]}.{digits[5:8]}/{digits[8:12]}-{digits[12:]}"


def format_cep(digits: str) -> str:
    """'88015200' -> '88015-200'."""
    return f"{digits[:5]}-{digits[5:]}"


# --- places and contacts ----------------------------------------------------------------------------------
def city(seed: int, index: int, salt: int = 3) -> City:
    """One of the real cities in `CITIES`, weighted towards the first (larger) ones."""
    h = mix(seed, index, salt)
    pick = h % len(CITIES)
    if (h >> 32) & 1:
        pick = pick // 2
    return CITIES[pick]


def cep(seed: int, index: int, where: City, salt: int = 4) -> str:
    """An 8-digit CEP inside the city's range (digits only)."""
    h = mix(seed, index, salt)
    prefix = where.cep_low + h % (where.cep_high - where.cep_low + 1)
    return f"{prefix:05d}{(h >> 20) % 1000:03d}"


def street(seed: int, index: int, salt: int = 5) -> tuple[str, str, str]:
    """(street name, number, neighborhood)."""
    h = mix(seed, index, salt)
    kind = STREET_TYPES[h % len(STREET_TYPES)]
    name = STREET_NAMES[(h >> 8) % len(STREET_NAMES)]
    return f"{kind} {name}", str(1 + (h >> 16) % 3000), NEIGHBORHOODS[(h >> 32) % len(NEIGHBORHOODS)]


def slug(text: str) -> str:
    """ASCII, lower case, no spaces: 'Serra Azul' -> 'serraazul' (for e-mail users and domains)."""
    return text.lower().translate(_ASCII).replace(" ", "")


def email(seed: int, index: int, who: Person, salt: int = 6) -> str:
    """A plausible personal address derived from the name (ASCII only)."""
    h = mix(seed, index, salt)
    user = slug(f"{who.first}.{who.last}")
    return f"{user}{h % 1000}@{EMAIL_DOMAINS[(h >> 12) % len(EMAIL_DOMAINS)]}"


def phone(seed: int, index: int, where: City, mobile: bool = True, salt: int = 7) -> tuple[str, str]:
    """(DDD, masked number): mobile '99123-4567' or landline '3222-1234'."""
    h = mix(seed, index, salt)
    if mobile:
        return where.ddd, f"9{9000 - h % 2000:04d}-{(h >> 16) % 10000:04d}"
    return where.ddd, f"{3000 + h % 1000:04d}-{(h >> 16) % 10000:04d}"


def date_between(seed: int, index: int, start: dt.date, end: dt.date, salt: int = 8) -> dt.date:
    """A day in [start, end], uniformly."""
    span = (end - start).days
    return start + dt.timedelta(days=mix(seed, index, salt) % (span + 1))
