"""Bling sandbox: API v3 with OAuth2, daily quotas and per-company data (`ponte sandbox bling`)."""
