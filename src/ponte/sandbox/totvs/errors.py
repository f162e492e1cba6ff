"""The TOTVS error model, the same for every flavour of the TOTVS sandbox.

`{"code", "message", "detailedMessage", "helpUrl", "details": [...]}` with a proper 4xx/5xx status [C] TTALK
`totvsApiTypesBase.json` (ErrorModel = ErrorModelBase + ErrorDetail) and the TDN API guide. `message` is for
the user (Portuguese, the request language of a Brazilian client), `detailedMessage` is technical. `code` is a
string as TTALK declares it (the `error_code_type` switch sends a number instead). `TotvsError` carries an
error from deep inside a handler to the app, which answers it.
"""

from __future__ import annotations

from typing import Any

HELP_URL = "https://api.totvs.com.br/guia"


class TotvsError(Exception):
    """An error answer: HTTP status plus the error model's fields."""

    def __init__(
        self,
        status: int,
        message: str,
        detailed: str = "",
        code: str | None = None,
        details: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status} {message}: {detailed}")
        self.status = status
        self.message = message
        self.detailed = detailed or message
        self.code = code or str(status)
        self.details = details or []
        self.headers = headers or {}

    def body(self, code_type: str = "string") -> dict[str, Any]:
        """The error model (`code_type` 'number' sends the code as an integer when it is one)."""
        return error_body(self.code, self.message, self.detailed, self.details, code_type)


def error_body(
    code: str, message: str, detailed: str, details: list[dict[str, Any]] | None = None, code_type: str = "string"
) -> dict[str, Any]:
    """`{"code","message","detailedMessage","helpUrl","details"}`."""
    shown: Any = int(code) if code_type == "number" and code.isdigit() else code
    return {
        "code": shown,
        "message": message,
        "detailedMessage": detailed,
        "helpUrl": HELP_URL,
        "details": [
            {**d, "code": int(d["code"]) if code_type == "number" and str(d["code"]).isdigit() else d["code"]}
            for d in (details or [])
        ],
    }


def detail(code: str, message: str, detailed: str = "") -> dict[str, Any]:
    """One entry of `details` (ErrorModelBase)."""
    return {"code": code, "message": message, "detailedMessage": detailed or message, "helpUrl": HELP_URL}


def bad_request(message: str, detailed: str = "", details: list[dict[str, Any]] | None = None) -> TotvsError:
    """400: a malformed parameter, header or body."""
    return TotvsError(400, message, detailed, details=details)


def unauthorized(detailed: str, scheme: str = "Bearer") -> TotvsError:
    """401: missing, wrong, invalid or expired credentials."""
    challenge = 'Basic realm="REST"' if scheme == "Basic" else 'Bearer realm="REST"'
    return TotvsError(401, "Usuário não autenticado.", detailed, headers={"WWW-Authenticate": challenge})


def not_found(detailed: str, message: str = "Recurso não encontrado.") -> TotvsError:
    """404: unknown route, or an unknown id in the path."""
    return TotvsError(404, message, detailed)


def method_not_allowed(method: str, path: str) -> TotvsError:
    """405 for a known path with a method it does not serve."""
    return TotvsError(405, "Método não permitido.", f"{method} is not allowed on {path}")


def injected(status: int) -> dict[str, Any]:
    """Body of an injected failure or a sandbox bug, in the same model."""
    if status == 429:
        return error_body("429", "Limite de requisições excedido.", "Too many requests; try again later.")
    if status >= 500:
        return error_body(str(status), "Serviço temporariamente indisponível.", f"HTTP {status} (sandbox fault)")
    return error_body(str(status), "Requisição inválida.", f"HTTP {status} (sandbox fault)")


__all__ = [
    "HELP_URL",
    "TotvsError",
    "bad_request",
    "detail",
    "error_body",
    "injected",
    "method_not_allowed",
    "not_found",
    "unauthorized",
]
