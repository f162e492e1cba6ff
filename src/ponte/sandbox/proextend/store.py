"""ProExtend's entities, the rules of each `.../sync` batch, and the upsert-by-code store.

Seven entities in dependency order (units -> areas -> courses -> subjects -> professors/students -> enrollments).
Each record is validated like a Laravel FormRequest with array rules would: every field's messages are collected,
keyed `field` (the batch wrapper and position are added by `Store.sync`, per `batch_error_style`). Messages are
the seed's where it gives them ("A área especificada não existe", "Email já cadastrado na plataforma", "CPF deve
conter exatamente 11 dígitos numéricos"); the others are guessed in the same voice.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ponte.sandbox.switches import Switches

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
CPF = re.compile(r"^\d{11}$")
SUBJECT_TYPES = ("obrigatoria", "optativa", "eletiva")


@dataclass(frozen=True)
class Entity:
    """One synced entity: its wrapper key, fields, and the Portuguese words of its messages."""

    name: str  # wrapper key and path segment: "units"
    required: tuple[str, ...]
    optional: tuple[str, ...]
    done: str  # "Sincronização de unidades concluída."
    missing: str  # "Unidade não encontrada."


ENTITIES: dict[str, Entity] = {
    e.name: e
    for e in (
        Entity("units", ("code", "name"), ("address",), "unidades", "Unidade não encontrada."),
        Entity("areas", ("code", "name", "unit_code"), ("responsible_email",), "áreas", "Área não encontrada."),
        Entity(
            "courses",
            ("code", "name", "area_code", "unit_code"),
            ("description", "responsible_email", "responsible_code"),
            "cursos",
            "Curso não encontrado.",
        ),
        Entity("subjects", ("code", "name", "course_code"), ("description", "type"), "disciplinas", "Disciplina não encontrada."),
        Entity("professors", ("code", "name", "email", "cpf"), ("phone", "area_code"), "professores", "Professor não encontrado."),
        Entity("students", ("code", "name", "email", "course_code"), ("cpf", "phone"), "alunos", "Aluno não encontrado."),
        Entity(
            "enrollments",
            ("code", "subject_code", "professor_code", "semester", "student_codes"),
            (),
            "turmas",
            "Turma não encontrada.",
        ),
    )
}  # fmt: skip

# field -> (entity it points at, the seed-style message when the code is unknown)
REFERENCES: dict[str, tuple[str, str]] = {
    "unit_code": ("units", "A unidade especificada não existe"),
    "area_code": ("areas", "A área especificada não existe"),
    "course_code": ("courses", "O curso especificado não existe"),
    "subject_code": ("subjects", "A disciplina especificada não existe"),
    "professor_code": ("professors", "O professor especificado não existe"),
}
PEOPLE = ("professors", "students")


class Store:
    """Records per entity, keyed by code, in insertion order; one lock for the whole store."""

    def __init__(self, switches: Switches) -> None:
        self.switches = switches
        self.lock = threading.RLock()
        self.data: dict[str, dict[str, dict[str, Any]]] = {name: {} for name in ENTITIES}
        self.last_sync: str | None = None
        self.syncs: dict[str, int] = {name: 0 for name in ENTITIES}

    def reset(self) -> None:
        """Forget every record."""
        with self.lock:
            for table in self.data.values():
                table.clear()
            self.last_sync = None
            self.syncs = {name: 0 for name in ENTITIES}

    def totals(self) -> dict[str, dict[str, int]]:
        """{"units": {"total": n}, ...} in the seed's order."""
        with self.lock:
            return {name: {"total": len(table)} for name, table in self.data.items()}

    # --- sync -------------------------------------------------------------------------------------------
    def sync(
        self, entity: str, records: list[Any], stamp: str
    ) -> tuple[dict[str, int], dict[int, dict[str, list[str]]]]:
        """Validate then upsert a batch: ({created, updated, failed}, {position: {field: [messages]}}).

        In 'atomic' mode nothing is stored when any record fails; in 'partial' mode the valid ones are.
        """
        spec = ENTITIES[entity]
        with self.lock:
            claimed = self._unique_index(entity)
            errors: dict[int, dict[str, list[str]]] = {}
            valid: list[tuple[int, dict[str, Any]]] = []
            for position, record in enumerate(records):
                problems = self._validate(spec, record, claimed)
                if problems:
                    errors[position] = problems
                else:
                    valid.append((position, record))
                    self._claim(entity, record, claimed)
            if errors and self.switches["batch_mode"] == "atomic":
                return {"created": 0, "updated": 0, "failed": len(errors)}, errors
            created = updated = 0
            for _, record in valid:
                if self._upsert(spec, record, stamp):
                    created += 1
                else:
                    updated += 1
            if valid:
                self.last_sync = stamp
            self.syncs[entity] += 1
            return {"created": created, "updated": updated, "failed": len(errors)}, errors

    def _upsert(self, spec: Entity, record: Mapping[str, Any], stamp: str) -> bool:
        table = self.data[spec.name]
        code = str(record["code"])
        fields = {k: _clean(record[k]) for k in spec.required + spec.optional if k in record and record[k] is not None}
        if spec.name == "subjects":
            fields.setdefault("type", "obrigatoria")
        if spec.name == "courses" and fields.get("responsible_code"):
            fields["responsible"] = {"code": fields["responsible_code"]}  # responsible_code has priority (seed)
        elif spec.name == "courses":
            fields["responsible"] = {"email": fields.get("responsible_email")}
        old = table.get(code)
        if old is None:
            table[code] = {**fields, "created_at": stamp, "updated_at": stamp}
            return True
        clear = self.switches["omitted_fields"] == "clear"
        kept = {"created_at": old["created_at"]} if clear else dict(old)
        if spec.name == "enrollments":
            kept.pop("student_codes", None)  # the list is always replaced as a whole (seed)
        table[code] = {**kept, **fields, "updated_at": stamp}
        return False

    # --- validation -------------------------------------------------------------------------------------
    def _validate(self, spec: Entity, record: Any, claimed: dict[str, dict[str, str]]) -> dict[str, list[str]]:
        if not isinstance(record, dict):
            return {"record": ["O registro deve ser um objeto."]}
        errors: dict[str, list[str]] = {}

        def add(field: str, message: str) -> None:
            errors.setdefault(field, []).append(message)

        required = list(spec.required)
        if spec.name == "professors" and not self.switches["professor_cpf_required"]:
            required.remove("cpf")
        for field in required:
            value = record.get(field)
            if value is None or (isinstance(value, str) and not value.strip()):
                add(field, f"O campo {field} é obrigatório.")
        for field in ("code", "name", "description", "address", "phone"):
            value = record.get(field)
            if (value is not None and not isinstance(value, str | int)) or isinstance(value, bool):
                add(field, f"O campo {field} deve ser uma string.")
            elif isinstance(value, str) and len(value) > 255 and field != "description":
                add(field, f"O campo {field} não pode ter mais de 255 caracteres.")
        for field in ("email", "responsible_email"):
            value = record.get(field)
            if value is not None and not (isinstance(value, str) and EMAIL.match(value)):
                add(field, f"O campo {field} deve ser um endereço de e-mail válido.")
        if record.get("cpf") is not None:
            cpf = record["cpf"]
            if not (isinstance(cpf, str) and CPF.match(cpf)):
                add("cpf", "CPF deve conter exatamente 11 dígitos numéricos")
            elif self.switches["cpf_check_digits"] and not cpf_valid(cpf):
                add("cpf", "CPF inválido")
        if spec.name == "subjects" and record.get("type") is not None and record["type"] not in SUBJECT_TYPES:
            add("type", "O tipo deve ser um dos seguintes: obrigatoria, optativa, eletiva.")
        if spec.name == "enrollments":
            self._enrollment_rules(record, add)
        if spec.name == "courses":
            self._responsible_rules(record, add)
        for field, (target, message) in REFERENCES.items():
            value = record.get(field)
            known = field in spec.required + spec.optional and value is not None and field not in errors
            if known and str(value) not in self.data[target]:
                add(field, message)
        if spec.name in PEOPLE:
            self._unique_rules(spec.name, record, claimed, add)
        return errors

    def _enrollment_rules(self, record: dict[str, Any], add: Any) -> None:
        semester = record.get("semester")
        if semester is not None and not (
            isinstance(semester, str) and re.match(self.switches["semester_pattern"], semester)
        ):
            add("semester", "O semestre deve estar no formato YYYY.N (ex: 2025.1).")
        codes = record.get("student_codes")
        if codes is None:
            return
        if not isinstance(codes, list):
            add("student_codes", "O campo student_codes deve ser um array.")
            return
        for index, code in enumerate(codes):
            if not isinstance(code, str | int) or str(code) not in self.data["students"]:
                add(f"student_codes.{index}", "O aluno especificado não existe")

    def _responsible_rules(self, record: dict[str, Any], add: Any) -> None:
        code, email = record.get("responsible_code"), record.get("responsible_email")
        if not code and not email:
            add("responsible_email", "Informe responsible_email ou responsible_code.")
            add("responsible_code", "Informe responsible_email ou responsible_code.")
            return
        if not self.switches["responsible_must_exist"]:
            return
        if code:
            if str(code) not in self.data["professors"]:
                add("responsible_code", "O responsável especificado não existe")
        elif isinstance(email, str) and not any(
            row.get("email", "").lower() == email.lower() for who in PEOPLE for row in self.data[who].values()
        ):
            add("responsible_email", "O responsável especificado não existe")

    def _unique_index(self, entity: str) -> dict[str, dict[str, str]]:
        """{"email": {value: owner}, "cpf": {value: owner}}; an owner is "entity:code"."""
        scope = PEOPLE if self.switches["unique_scope"] == "platform" else (entity,)
        index: dict[str, dict[str, str]] = {"email": {}, "cpf": {}}
        for who in scope:
            if who not in PEOPLE:
                continue
            for code, row in self.data[who].items():
                for field in ("email", "cpf"):
                    if row.get(field):
                        index[field][str(row[field]).lower()] = f"{who}:{code}"
        return index

    def _claim(self, entity: str, record: dict[str, Any], claimed: dict[str, dict[str, str]]) -> None:
        if entity not in PEOPLE:
            return
        owner = f"{entity}:{record['code']}"
        for field in ("email", "cpf"):
            for value, who in list(claimed[field].items()):
                if who == owner:
                    del claimed[field][value]  # an update frees the record's old email/CPF
            if record.get(field):
                claimed[field][str(record[field]).lower()] = owner

    @staticmethod
    def _unique_rules(entity: str, record: dict[str, Any], claimed: dict[str, dict[str, str]], add: Any) -> None:
        owner = f"{entity}:{record.get('code')}"
        if isinstance(record.get("email"), str):
            holder = claimed["email"].get(record["email"].lower())
            if holder is not None and holder != owner:
                add("email", "Email já cadastrado na plataforma")
        if isinstance(record.get("cpf"), str):
            holder = claimed["cpf"].get(record["cpf"].lower())
            if holder is not None and holder != owner:
                add("cpf", "CPF já cadastrado na plataforma")


def cpf_valid(cpf: str) -> bool:
    """The two CPF check digits (and not all digits equal)."""
    if len(set(cpf)) == 1:
        return False
    digits = [int(c) for c in cpf]
    for size in (9, 10):
        total = sum(d * w for d, w in zip(digits[:size], range(size + 1, 1, -1), strict=True))
        check = (total * 10) % 11 % 10
        if check != digits[size]:
            return False
    return True


def _clean(value: Any) -> Any:
    if isinstance(value, list):
        return [str(v) for v in value]
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


__all__ = ["ENTITIES", "REFERENCES", "SUBJECT_TYPES", "Entity", "Store", "cpf_valid"]
