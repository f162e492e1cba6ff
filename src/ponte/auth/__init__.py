"""Auth strategies a declaration names (`auth: {type: basic}`), one registry: see `registry.AUTH_BUILDERS`."""

from ponte.auth.registry import build_authenticator

__all__ = ["build_authenticator"]
