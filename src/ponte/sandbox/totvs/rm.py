"""RM (TOTVS Educacional) under `/api` (api-facts §6.2): JWT from /api/connect/token, the educational API v1.

- `POST /api/connect/token` (also with a trailing slash) JSON `{"username","password"}` → 200
  `{"access_token":<JWT>,"expires_in":300,"refresh_token","token_type":"Bearer"}` [C] TDN; refresh with JSON
  `{"grant_type":"refresh_token","refresh_token":…}` [G]. Basic auth with the RM user works too [C].
- `GET /api/educational/v1/...` [C] TTALK paths, answered the way real servers do [C3]: camelCase keys,
  `{"hasNext","total","items"}`, composite internal ids URL-encoded (`1%7C1` or a literal `1|1`), paths
  case-insensitive, optional context query `CodColigada`, `CodFilial`, `CodSistema` (S = Educacional; other
  coligadas/filiais see no rows). Default pageSize 10 (TTALK's default) [G].
  Academic ids are CODCOLIGADA|CODFILIAL|CODTIPOCURSO [C] TTALK (`1|1|1`, `1|1|2`); TTALK documents no list of them.
  `/Academics/{id}/Courses[/{courseId}]`, `/Academics/{id}/CurriculumGrids` (with their `periods`),
  `/Academics/{id}/Periods`, `/academics/{id}/periods/{periodId}/griddisciplines`, `/ProfessorContexts`,
  `/Professors/{id}/disciplineclasses`, `/Professors/{id}/disciplineclasses/{classId}/students`,
  `/StudentContexts`. Unknown ids in the path → 404 in the TOTVS error model.
"""

from __future__ import annotations

from ponte.sandbox.server import Request, Response
from ponte.sandbox.switches import Switches
from ponte.sandbox.totvs.auth import json_object
from ponte.sandbox.totvs.errors import TotvsError, bad_request, not_found
from ponte.sandbox.totvs.flavour import NO_STORE, UserFlavourApi
from ponte.sandbox.totvs.query import Row, param
from ponte.sandbox.totvs.school import ACADEMICS, BRANCH, COMPANY, School
from ponte.sandbox.totvs.tokens import TokenStore

PREFIX = "/api"
EDU = f"{PREFIX}/educational/v1"
SEG = "[^/]+"


def public(rows: list[Row]) -> list[Row]:
    """Rows without the hidden (`_`-prefixed) keys."""
    return [{k: v for k, v in row.items() if not k.startswith("_")} for row in rows]


class RmApi(UserFlavourApi):
    """RM.Host's REST API for one school."""

    name = "rm"
    page_size_switch = "rm_page_size_default"
    missing_credentials = "Missing credentials: send a Bearer token (POST /api/connect/token) or Basic auth."

    def __init__(self, switches: Switches, tokens: TokenStore, school: School, user: str, password: str) -> None:
        super().__init__(switches, tokens, user, password)
        self.school = school
        self.open.add("POST", f"{PREFIX}/connect/token/?", self.token)
        routes = {
            rf"/Academics/(?P<academic>{SEG})/Courses": self.courses,
            rf"/Academics/(?P<academic>{SEG})/Courses/(?P<course>{SEG})": self.course,
            rf"/Academics/(?P<academic>{SEG})/CurriculumGrids": self.grids,
            rf"/Academics/(?P<academic>{SEG})/Periods": self.periods,
            rf"/Academics/(?P<academic>{SEG})/periods/(?P<period>{SEG})/griddisciplines": self.grid_disciplines,
            r"/ProfessorContexts": self.professor_contexts,
            rf"/Professors/(?P<professor>{SEG})/disciplineclasses": self.discipline_classes,
            rf"/Professors/(?P<professor>{SEG})/disciplineclasses/(?P<dclass>{SEG})/students": self.class_students,
            r"/StudentContexts": self.student_contexts,
        }
        for path, handler in routes.items():
            self.routes.add("GET", f"{EDU}{path}", handler)

    # --- auth ---------------------------------------------------------------------------------------------
    def token(self, request: Request) -> Response:
        body = json_object(request)
        grant = str(body.get("grant_type") or "password")
        if grant == "refresh_token":
            refresh_token = body.get("refresh_token")
            if not refresh_token:
                raise bad_request("refresh_token obrigatório.", "refresh_token is required")
            access, refresh, ttl = self.tokens.refresh(self.name, str(refresh_token))
        elif grant == "password":
            user, password = body.get("username"), body.get("password")
            request.context["user"] = user
            if not user or password is None:
                raise bad_request("Usuário e senha obrigatórios.", "username and password are required")
            if (user, password) != self.credentials:
                raise TotvsError(401, "Usuário ou senha inválidos.", "invalid username or password", code="401")
            access, refresh, ttl = self.tokens.issue(self.name, str(user), with_refresh=True)
        else:
            raise bad_request("grant_type não suportado.", f"unsupported grant_type '{grant}'")
        body = {"access_token": access, "expires_in": ttl, "refresh_token": refresh, "token_type": "Bearer"}
        return Response(200, body, dict(NO_STORE))

    # --- context and paging -------------------------------------------------------------------------------
    def _in_context(self, request: Request) -> bool:
        """Whether the optional CodColigada/CodFilial/CodSistema context is this school's (else: no rows)."""
        wanted = {"codcoligada": COMPANY, "codfilial": BRANCH}
        inside = True
        for name, ours in wanted.items():
            raw = (param(request, name) or "").strip()
            if raw:
                if not raw.isdigit():
                    raise bad_request(f"Parâmetro {name} inválido.", f"{name} must be an integer, got '{raw}'")
                inside = inside and int(raw) == ours
        system = (param(request, "CodSistema") or "").strip()
        if system and system.upper() != "S":
            raise bad_request("Parâmetro CodSistema inválido.", f"CodSistema '{system}' is not S (Educacional)")
        return inside

    def _answer(self, request: Request, rows: list[Row], default_order: tuple[str, ...]) -> Response:
        shown = public(rows) if self._in_context(request) else []
        known = list(public(rows[:1])[0]) if rows else list(default_order)
        body = self.collection(request, shown, known=known, default_order=default_order, total=self.switches["rm_total"])  # fmt: skip
        return Response(200, body)

    def _academic(self, request: Request) -> str:
        academic = request.params["academic"].strip()
        if academic not in ACADEMICS:
            raise not_found(f"academic '{academic}' not found; known: {', '.join(ACADEMICS)}")
        return academic

    # --- resources ----------------------------------------------------------------------------------------
    def courses(self, request: Request) -> Response:
        academic = self._academic(request)
        rows = [c for c in self.school.courses if c["_academic"] == academic]
        return self._answer(request, rows, ("courseCode",))

    def course(self, request: Request) -> Response:
        academic = self._academic(request)
        wanted = request.params["course"].strip()
        for row in self.school.courses:
            if row["_academic"] == academic and wanted in (row["internalId"], row["courseCode"]):
                return Response(200, public([row])[0])
        raise not_found(f"course '{wanted}' not found in academic {academic}")

    def grids(self, request: Request) -> Response:
        academic = self._academic(request)
        rows = [g for g in self.school.grids if g["_academic"] == academic]
        return self._answer(request, rows, ("courseCode", "gridCode"))

    def periods(self, request: Request) -> Response:
        academic = self._academic(request)
        rows = [
            {**period, "courseCode": grid["courseCode"], "gridCode": grid["gridCode"]}
            for grid in self.school.grids
            if grid["_academic"] == academic
            for period in grid["periods"]
        ]
        return self._answer(request, rows, ("courseCode", "gridCode", "periodCode"))

    def grid_disciplines(self, request: Request) -> Response:
        academic = self._academic(request)
        period = request.params["period"].strip()
        grid_id = period.rpartition("|")[0]
        grid = next((g for g in self.school.grids if g["internalId"] == grid_id), None)
        rows = self.school.disciplines.get(period)
        if rows is None or grid is None or grid["_academic"] != academic:
            raise not_found(f"period '{period}' not found in academic {academic}")
        return self._answer(request, rows, ("period", "disciplineCode"))

    def professor_contexts(self, request: Request) -> Response:
        return self._answer(request, self.school.professors, ("professorCode",))

    def _professor(self, request: Request) -> str:
        professor = request.params["professor"].strip()
        if not any(p["internalId"] == professor for p in self.school.professors):
            raise not_found(f"professor '{professor}' not found (use the internalId, e.g. 1|1|P0001)")
        return professor

    def discipline_classes(self, request: Request) -> Response:
        professor = self._professor(request)
        rows = self.school.classes.get(professor, [])
        return self._answer(request, rows, ("termId", "disciplineClassCode"))

    def class_students(self, request: Request) -> Response:
        professor = self._professor(request)
        wanted = request.params["dclass"].strip()
        owned = {row["internalId"] for row in self.school.classes.get(professor, [])}
        if wanted not in owned:
            raise not_found(f"discipline class '{wanted}' is not taught by professor {professor}")
        return self._answer(request, self.school.class_students[wanted], ("diaryNumber",))

    def student_contexts(self, request: Request) -> Response:
        return self._answer(request, self.school.students, ("studentCode",))


__all__ = ["EDU", "PREFIX", "RmApi"]
