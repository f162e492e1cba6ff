"""The school behind the RM Educacional flavour: Faculdade Vale do Cariri (coligada 1, filial 1).

Two academics, `1|1|1` graduação and `1|1|2` ensino técnico (CODCOLIGADA|CODFILIAL|CODTIPOCURSO, the
AcademicInternalID as TTALK documents it [C]), with courses, one or two curriculum grids per course (the
current one and, for some, an older one being phased out), the grid's periods and their disciplines; 40
professors; the discipline classes (turma/disciplina) of the last two terms, 2026-1 (finished) and 2026-2
(current), each taught by one professor; students who entered in different terms, so each class has the
students of its course who were in that period in that term (diaryNumber = alphabetical order in the class).

Internal ids are composite and pipe-separated as RM builds them [C3]: course `1|1|ENF`, grid `1|ENF|2023`,
period `1|ENF|2023|3`, professor `1|1|P0001`, discipline class `1|<idTurmaDisc>`, student `1|1|<RA>`.
Everything is a pure function of the seed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ponte.sandbox import brdata as br
from ponte.sandbox.brdata import mix

SALT = 1300
COMPANY, BRANCH = 1, 1
DOMAIN = "fvc.edu.br"
Row = dict[str, Any]


@dataclass(frozen=True)
class Term:
    code: str
    id: int
    finished: bool
    age: int  # terms before the current one (0 = current)


TERMS = (Term("2026-1", 12, True, 1), Term("2026-2", 13, False, 0))
ACADEMICS = {"1|1|1": ("1", "Graduação"), "1|1|2": ("2", "Ensino Técnico")}

COMMON = (
    "Metodologia Científica", "Leitura e Produção de Textos", "Estatística Aplicada", "Ética e Cidadania",
    "Empreendedorismo", "Libras", "Responsabilidade Socioambiental",
)  # fmt: skip
CORE = {
    "ENF": ("Anatomia Humana", "Fisiologia Humana", "Bioquímica", "Microbiologia e Imunologia", "Histologia e Embriologia",
            "Farmacologia Aplicada à Enfermagem", "Semiologia e Semiotécnica I", "Semiologia e Semiotécnica II",
            "Saúde Coletiva", "Epidemiologia", "Enfermagem em Saúde da Mulher", "Enfermagem em Saúde da Criança",
            "Enfermagem em Clínica Médica", "Enfermagem em Clínica Cirúrgica", "Enfermagem em Saúde Mental",
            "Enfermagem em Urgência e Emergência", "Enfermagem em UTI", "Gestão em Enfermagem",
            "Estágio Supervisionado I", "Estágio Supervisionado II", "Trabalho de Conclusão de Curso"),
    "FAR": ("Química Geral", "Química Orgânica I", "Química Orgânica II", "Química Analítica", "Anatomia Humana",
            "Fisiologia Humana", "Bioquímica", "Microbiologia", "Farmacognosia", "Farmacologia I", "Farmacologia II",
            "Farmacotécnica", "Tecnologia Farmacêutica", "Controle de Qualidade de Medicamentos",
            "Boas Práticas de Fabricação", "Soluções Parenterais e Esterilização", "Farmácia Hospitalar",
            "Assistência Farmacêutica", "Toxicologia", "Estágio Supervisionado em Indústria",
            "Estágio Supervisionado em Farmácia", "Trabalho de Conclusão de Curso"),
    "BIO": ("Biologia Celular", "Anatomia Humana", "Química Geral", "Bioquímica", "Fisiologia Humana", "Genética",
            "Microbiologia", "Imunologia", "Parasitologia", "Hematologia", "Citologia Clínica", "Bioquímica Clínica",
            "Imunologia Clínica", "Microbiologia Clínica", "Biologia Molecular", "Análises Clínicas",
            "Imagenologia", "Estágio em Análises Clínicas", "Trabalho de Conclusão de Curso"),
    "ADM": ("Teoria Geral da Administração", "Matemática Financeira", "Contabilidade Geral", "Economia",
            "Gestão de Pessoas", "Marketing", "Administração da Produção", "Logística e Cadeia de Suprimentos",
            "Finanças Corporativas", "Direito Empresarial", "Planejamento Estratégico", "Gestão da Qualidade",
            "Sistemas de Informação Gerencial", "Gestão de Projetos", "Estágio Supervisionado",
            "Trabalho de Conclusão de Curso"),
    "EPR": ("Cálculo I", "Cálculo II", "Física I", "Física II", "Química Tecnológica", "Desenho Técnico",
            "Algoritmos e Programação", "Pesquisa Operacional", "Planejamento e Controle da Produção",
            "Engenharia de Métodos", "Ergonomia", "Gestão da Manutenção", "Controle Estatístico de Processos",
            "Automação Industrial", "Engenharia da Qualidade", "Simulação de Sistemas", "Lean Manufacturing",
            "Estágio Supervisionado", "Trabalho de Conclusão de Curso"),
    "TEN": ("Anatomia e Fisiologia", "Fundamentos de Enfermagem", "Biossegurança", "Farmacologia Básica",
            "Enfermagem Clínica", "Enfermagem Cirúrgica", "Saúde Pública", "Urgência e Emergência",
            "Saúde da Mulher e da Criança", "Estágio Supervisionado"),
    "TFA": ("Noções de Farmacologia", "Química Aplicada", "Legislação Farmacêutica", "Boas Práticas em Farmácia",
            "Manipulação Magistral", "Dispensação de Medicamentos", "Estágio Supervisionado"),
    "TQI": ("Química Geral", "Química Inorgânica", "Química Orgânica", "Análise Instrumental", "Operações Unitárias",
            "Controle de Qualidade", "Segurança em Laboratório", "Processos Industriais", "Estágio Supervisionado"),
}  # fmt: skip
# code, name, academic, periods, INEP course code, modality (P presencial / D a distância), grids (years)
COURSES = (
    ("ENF", "Enfermagem", "1|1|1", 8, "1203456", "P", (2023, 2018)),
    ("FAR", "Farmácia", "1|1|1", 8, "1203457", "P", (2022,)),
    ("BIO", "Biomedicina", "1|1|1", 8, "1290311", "P", (2021,)),
    ("ADM", "Administração", "1|1|1", 8, "1187220", "D", (2024, 2019)),
    ("EPR", "Engenharia de Produção", "1|1|1", 8, "1301548", "P", (2020,)),
    ("TEN", "Técnico em Enfermagem", "1|1|2", 4, None, "P", (2022,)),
    ("TFA", "Técnico em Farmácia", "1|1|2", 3, None, "P", (2023,)),
    ("TQI", "Técnico em Química", "1|1|2", 3, None, "P", (2021,)),
)
ROMAN = ("I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X", "XI", "XII")


@dataclass
class School:
    """Every list the RM flavour serves, built once per seed."""

    courses: list[Row] = field(default_factory=list)
    grids: list[Row] = field(default_factory=list)
    disciplines: dict[str, list[Row]] = field(default_factory=dict)  # period internalId -> grid disciplines
    professors: list[Row] = field(default_factory=list)
    classes: dict[str, list[Row]] = field(default_factory=dict)  # professor internalId -> discipline classes
    class_students: dict[str, list[Row]] = field(default_factory=dict)  # class internalId -> students
    students: list[Row] = field(default_factory=list)


def _names(course: str, count: int) -> list[str]:
    """`count` discipline names in grid order: the course's core, common ones, optional topics, then the
    internship and final project (the core's last two) at the end."""
    core = list(CORE[course])
    head, tail = core[:-2], core[-2:]
    body = head + [n for n in COMMON if n not in core]
    body += [f"Tópicos Especiais {numeral}" for numeral in ROMAN[: max(0, count - len(tail) - len(body))]]
    return body[: count - len(tail)] + tail


def build(seed: int, students: int = 600, professors: int = 40) -> School:
    """Generate the school for a seed: `students` students, `professors` professors."""
    school = School()
    current_grid: dict[str, tuple[Row, list[list[Row]]]] = {}
    for code, name, academic, periods, inep, modality, years in COURSES:
        level = ACADEMICS[academic][0]
        school.courses.append(
            {
                "internalId": f"{COMPANY}|{level}|{code}",
                "companyCode": COMPANY,
                "courseCode": code,
                "name": name,
                "inepCode": inep,
                "levelEducationCode": level,
                "modalityCode": modality,
                "_academic": academic,
            }
        )
        per_period = 4 if level == "1" else 3
        for g, year in enumerate(years):
            grid_id = f"{COMPANY}|{code}|{year}"
            names = _names(code, periods * per_period)
            period_rows, by_period = [], []
            for p in range(1, periods + 1):
                period_id = f"{grid_id}|{p}"
                period_rows.append({"internalId": period_id, "periodCode": p, "description": f"{p}º Período"})
                rows = []
                for k in range(per_period):
                    h = mix(seed, hash_text(f"{grid_id}|{p}|{k}"), SALT + 1)
                    title = names[(p - 1) * per_period + k]
                    hours = 160 if title.startswith("Estágio") else (40, 60, 60, 80)[h % 4]
                    discipline = f"{code}{p:02d}{k + 1:02d}" if g == 0 else f"{code}{year % 100:02d}{p}{k + 1}"
                    rows.append(
                        {
                            "internalId": f"{period_id}|{discipline}",
                            "companyCode": COMPANY,
                            "courseCode": code,
                            "gridCode": str(year),
                            "period": p,
                            "disciplineCode": discipline,
                            "disciplineName": title,
                            "workload": hours,
                        }
                    )
                school.disciplines[period_id] = rows
                by_period.append(rows)
            grid = {
                "internalId": grid_id,
                "companyCode": COMPANY,
                "courseCode": code,
                "gridCode": str(year),
                "description": f"Matriz Curricular {name} {year}",
                "status": "Ativa" if g == 0 else "Em extinção",
                "periods": period_rows,
                "_academic": academic,
            }
            school.grids.append(grid)
            if g == 0:
                current_grid[code] = (grid, by_period)
    _people(seed, school, students, professors)
    _classes(seed, school, current_grid)
    return school


def hash_text(text: str) -> int:
    """A stable integer of a short text (Python's hash() is salted per process)."""
    value = 0
    for char in text:
        value = (value * 131 + ord(char)) % (1 << 61)
    return value


def _email(who: br.Person, n: int, domain: str) -> str:
    return f"{br.slug(who.first)}.{br.slug(who.last)}{n}@{domain}"


def _people(seed: int, school: School, students: int, professors: int) -> None:
    for i in range(1, professors + 1):
        who = br.person(seed, i, SALT + 2)
        code = f"P{i:04d}"
        school.professors.append(
            {
                "internalId": f"{COMPANY}|{BRANCH}|{code}",
                "professorCode": code,
                "professorName": who.name,
                "email": _email(who, i, DOMAIN),
                "companyCode": COMPANY,
                "branchCode": BRANCH,
            }
        )
    for i in range(1, students + 1):
        h = mix(seed, i, SALT + 3)
        code, _, _, periods, *_ = COURSES[h % len(COURSES)]
        entered = (h >> 8) % (periods + 1)  # terms since entry: in period entered+1 now (beyond: graduated)
        year, half = 2026, 2
        for _ in range(entered):
            year, half = (year, 1) if half == 2 else (year - 1, 2)
        ra = f"{year}{half}{i:05d}"
        who = br.person(seed, i, SALT + 4)
        school.students.append(
            {
                "internalId": f"{COMPANY}|{BRANCH}|{ra}",
                "studentCode": ra,
                "studentName": who.name,
                "email": _email(who, i % 1000, f"aluno.{DOMAIN}"),
                "courseCode": code,
                "companyCode": COMPANY,
                "_entered": entered,
            }
        )


def _classes(seed: int, school: School, current_grid: dict[str, tuple[Row, list[list[Row]]]]) -> None:
    next_id = 1001
    professors = school.professors
    by_course: dict[str, list[Row]] = {}
    for student in school.students:
        by_course.setdefault(student["courseCode"], []).append(student)
    for term in TERMS:
        for code, (_, by_period) in current_grid.items():
            shift = "N" if mix(seed, hash_text(code), SALT + 5) % 2 else "M"
            for p, rows in enumerate(by_period, start=1):
                enrolled = sorted(
                    (s for s in by_course.get(code, []) if s["_entered"] + 1 - term.age == p),
                    key=lambda s: s["studentName"],
                )
                for discipline in rows:
                    h = mix(seed, next_id, SALT + 6)
                    professor = professors[h % len(professors)]
                    class_id = f"{COMPANY}|{next_id}"
                    row = {
                        "internalId": class_id,
                        "disciplineClassCode": next_id,
                        "classCode": f"{code}{p}{shift}",
                        "disciplineCode": discipline["disciplineCode"],
                        "disciplineDescription": discipline["disciplineName"],
                        "termCode": term.code,
                        "termId": term.id,
                        "isFinishedTerm": term.finished,
                    }
                    school.classes.setdefault(professor["internalId"], []).append(row)
                    school.class_students[class_id] = [
                        {
                            "studentCode": s["studentCode"],
                            "studentName": s["studentName"],
                            "diaryNumber": n,
                            "email": s["email"],
                        }
                        for n, s in enumerate(enrolled, start=1)
                    ]
                    next_id += 1


__all__ = ["ACADEMICS", "COMPANY", "COURSES", "TERMS", "School", "build"]
