"""Sienge customers (`CustomerGet`), generated on demand from (seed, id) and a `Timeline` of their dates.

About one in five customers is a company (personType 'Jurídica': cnpj, fantasyName, ...), the rest natural
persons with CPF, documents, a spouse when married, phones and addresses. Fields that do not apply are null,
as the API sends them. `createdAt`/`modifiedAt` are 'yyyy-MM-dd' by default; the format is not documented
(facts: GUESS), hence the `customer_date_format` switch.

Real responses also carry fields the saved Swagger lacks (`UNDOCUMENTED`, observed on a live tenant and listed
in newer docs): `modifiedAtDateTime` (the modification moment; its format is not documented, ISO 8601 with an
offset here is a guess) and `socialName` (nome social, set for a few natural persons, null otherwise). The
`extra_fields` switch turns them off.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from ponte.sandbox import brdata as br
from ponte.sandbox.sienge.lookups import CIVIL_STATUS, CUSTOMER_TYPES, PROFESSIONS
from ponte.sandbox.timeline import Timeline

Row = dict[str, Any]
SALT = 200
CNAES = ("4120-4/00", "4110-7/00", "6810-2/01", "7112-0/00", "4399-1/03", "4744-0/99", "6821-8/01")
FIRST_DAY, LAST_DAY = dt.date(2014, 1, 1), dt.date(2026, 6, 30)


def is_company(seed: int, i: int) -> bool:
    """Whether customer i is a legal person (decides cpf vs cnpj)."""
    return br.mix(seed, i, SALT) % 5 == 0


def is_active(seed: int, i: int) -> bool:
    """Hidden 'active' flag behind `onlyActive=true` (about 6% inactive)."""
    return br.mix(seed, i, SALT + 1) % 100 >= 6


def display_name(seed: int, i: int) -> str:
    """Customer i's name, as other resources (contracts) show it."""
    return br.company_name(seed, i, SALT)[0] if is_company(seed, i) else br.person(seed, i, SALT).name


UNDOCUMENTED = ("modifiedAtDateTime", "socialName")


def customer(seed: int, i: int, timeline: Timeline, date_style: str = "date", extra_fields: bool = True) -> Row:
    """The full record of customer i (with the fields the Swagger lacks unless `extra_fields` is off)."""
    h = br.mix(seed, i, SALT + 2)
    company = is_company(seed, i)
    where = br.city(seed, i, SALT)
    street, number, hood = br.street(seed, i, SALT)
    zip_code = br.cep(seed, i, where, SALT)
    ddd, mobile = br.phone(seed, i, where, True, SALT)
    phones = [{"number": f"({ddd}) {mobile}", "main": True, "type": "Celular", "note": None, "idd": "55"}]
    if h & 1:
        _, land = br.phone(seed, i, where, False, SALT + 1)
        phones.append(
            {
                "number": f"({ddd}) {land}",
                "main": False,
                "type": "Comercial" if company else "Residencial",
                "note": None,
                "idd": "55",
            }
        )
    complement = None if (h >> 1) % 3 else f"Apto {100 + (h >> 4) % 1200}"
    address = {
        "type": "C" if company else "R",
        "streetName": street,
        "number": number,
        "complement": complement,
        "neighborhood": hood,
        "cityId": where.ibge,
        "city": where.name,
        "state": where.uf,
        "zipCode": zip_code,
        "mail": True,
    }
    subtype = CUSTOMER_TYPES[(h >> 8) % len(CUSTOMER_TYPES)]
    row: Row = {
        "id": i,
        "personType": "Jurídica" if company else "Física",
        "foreigner": "N",
        "internationalId": None,
        "createdAt": timeline.created_text(i, date_style),
        "modifiedAt": timeline.modified_text(i, date_style),
        "clientType": subtype,
        "subTypes": [{"id": CUSTOMER_TYPES.index(subtype) + 1, "description": subtype}] if (h >> 12) & 1 else [],
        "activityId": None,
        "activityDescription": None,
        "phones": phones,
        "addresses": [address],
        "agents": [],
        "procurators": None,
        "spouse": None,
        "familyIncome": [],
    }
    row.update(_company_fields(seed, i, h, where) if company else _person_fields(seed, i, h, where, address))
    if extra_fields:
        row["modifiedAtDateTime"] = timeline.modified_text(i, "datetime")
        row["socialName"] = None if company or br.mix(seed, i, SALT + 5) % 40 else _social_name(seed, i)
    return row


def _social_name(seed: int, i: int) -> str:
    """A nome social: a first name of the other list than the civil one, same last name."""
    who = br.person(seed, i, SALT)
    names = br.MALE if who.female else br.FEMALE
    return f"{names[br.mix(seed, i, SALT + 6) % len(names)]} {who.last}"


def _person_fields(seed: int, i: int, h: int, where: br.City, address: Row) -> Row:
    who = br.person(seed, i, SALT)
    born = br.date_between(seed, i, dt.date(1950, 1, 1), dt.date(2005, 12, 31), SALT)
    status = CIVIL_STATUS[(h >> 16) % 4]
    married = status == "Casado(a)"
    fields: Row = {
        "name": who.name,
        "email": br.email(seed, i, who, SALT) if (h >> 20) % 10 else None,
        "birthDate": born.isoformat(),
        "birthPlace": where.name,
        "civilStatus": status,
        "cpf": br.cpf(seed, i, 0),
        "fatherName": None if (h >> 24) % 4 == 0 else f"{br.MALE[(h >> 26) % len(br.MALE)]} {who.last}",
        "motherName": f"{br.FEMALE[(h >> 30) % len(br.FEMALE)]} {br.SURNAMES[(h >> 34) % len(br.SURNAMES)]} {who.last}",
        "sex": "Feminino" if who.female else "Masculino",
        "issuingBody": f"SSP/{where.uf}",
        "issueDateIdentityCard": (born + dt.timedelta(days=6600 + (h >> 38) % 3000)).isoformat(),
        "numberIdentityCard": str(1_000_000 + (h >> 40) % 9_000_000),
        "matrimonialRegime": "Comunhão parcial de bens" if married else None,
        "marriageDate": (born + dt.timedelta(days=9000 + (h >> 44) % 3000)).isoformat() if married else None,
        "nationality": "Brasileira",
        "profession": PROFESSIONS[(h >> 48) % len(PROFESSIONS)],
        "mailingAddress": "R",
        "licenseNumber": None,
        "licenseIssuingBody": None,
        "licenseIssueDate": None,
        **dict.fromkeys(_COMPANY_ONLY),
    }
    if married:
        partner = br.person(seed, i, SALT + 3)
        ddd, mobile = br.phone(seed, i, where, True, SALT + 3)
        fields["spouse"] = {
            "cpf": br.cpf(seed, i, 1),
            "name": partner.name,
            "email": br.email(seed, i, partner, SALT + 3),
            "sex": "F" if partner.female else "M",
            "foreigner": "N",
            "internationalId": None,
            "civilStatus": "Casado(a)",
            "birthDate": br.date_between(seed, i, dt.date(1950, 1, 1), dt.date(2005, 12, 31), SALT + 3).isoformat(),
            "numberIdentityCard": str(1_000_000 + (h >> 8) % 9_000_000),
            "issueDateIdentityCard": None,
            "profession": PROFESSIONS[(h >> 52) % len(PROFESSIONS)],
            "nationality": "Brasileira",
            "birthPlace": where.name,
            "fatherName": None,
            "motherName": None,
            "cellphoneNumber": ddd + mobile.replace("-", ""),
            "businessPhone": None,
            "company": None,
            "addresses": {
                k: address[k] for k in ("city", "complement", "neighborhood", "number", "streetName", "zipCode")
            },
        }
        fields["familyIncome"] = [
            {
                "kinsName": partner.name,
                "kinship": "Cônjuge",
                "incomeValue": float(2000 + (h >> 56) * 50),
                "observation": None,
            }
        ]
    return fields


_COMPANY_ONLY = (
    "cityRegistrationNumber", "cnaeNumber", "cnpj", "contactName", "creaNumber", "establishmentDate",
    "fantasyName", "note", "site", "shareCapital", "stateRegistrationNumber", "technicalManager",
)  # fmt: skip
_PERSON_ONLY = (
    "birthDate", "birthPlace", "civilStatus", "cpf", "fatherName", "motherName", "sex", "issuingBody",
    "issueDateIdentityCard", "numberIdentityCard", "matrimonialRegime", "marriageDate", "nationality", "profession",
    "licenseNumber", "licenseIssuingBody", "licenseIssueDate",
)  # fmt: skip


def _company_fields(seed: int, i: int, h: int, where: br.City) -> Row:
    legal, trade = br.company_name(seed, i, SALT)
    contact = br.person(seed, i, SALT + 4)
    slug = br.slug(trade)
    return {
        **dict.fromkeys(_PERSON_ONLY),
        "name": legal,
        "email": f"contato@{slug}.com.br",
        "mailingAddress": "C",
        "cityRegistrationNumber": str(100_000 + (h >> 16) % 900_000),
        "cnaeNumber": CNAES[(h >> 24) % len(CNAES)],
        "cnpj": br.cnpj(seed, i, 0),
        "contactName": contact.name,
        "creaNumber": f"{(h >> 28) % 10**6:06d}-{where.uf}" if (h >> 34) % 3 == 0 else None,
        "establishmentDate": br.date_between(seed, i, dt.date(1970, 1, 1), dt.date(2022, 12, 31), SALT + 4).isoformat(),
        "fantasyName": trade,
        "note": None,
        "site": f"https://www.{slug}.com.br",
        "shareCapital": float(10_000 * (1 + (h >> 36) % 500)),
        "stateRegistrationNumber": f"{(h >> 40) % 10**9:09d}",
        "technicalManager": contact.name if (h >> 50) & 1 else None,
    }


def find_by_document(seed: int, document: str, company: bool) -> int | None:
    """Invert a customer CPF/CNPJ to its id (None when no customer of that kind carries it)."""
    i = br.cnpj_index(seed, document, 0) if company else br.cpf_index(seed, document, 0)
    if i is None or is_company(seed, i) != company:
        return None
    return i
