"""What the redaction masks: every configured secret, short ones only where they stand alone."""

from __future__ import annotations

import pytest

from ponte.http.redaction import Redactor, weak_secret_warnings


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("tap-totvs: stream 'alunos' failed", "tap-totvs: stream 'alunos' failed"),
        ("schema totvs.lotes and totvs_rm", "schema totvs.lotes and totvs_rm"),
        ("GET /login?password=totvs&user=mestre", "GET /login?password=****&user=mestre"),
        ('{"password": "totvs"}', '{"password": "****"}'),
        ("the password is totvs.", "the password is ****."),
        ("http://mestre:totvs@rm:8051/api", "http://mestre:****@rm:8051/api"),
    ],
)
def test_a_short_secret_is_masked_only_where_it_stands_alone(text: str, shown: str) -> None:
    assert Redactor(["totvs"]).redact(text) == shown


def test_a_long_secret_is_masked_everywhere_even_inside_words() -> None:
    assert Redactor(["s3cr3t-token"]).redact("xs3cr3t-tokeny s3cr3t-token") == "x****y ****"


def test_only_short_secrets_are_called_weak_with_the_setting_that_holds_them() -> None:
    warnings = weak_secret_warnings("tap-totvs", {"password": "totvs", "client_secret": "a-long-secret"})
    assert len(warnings) == 1
    assert warnings[0].startswith("tap-totvs: setting 'password' holds a weak secret (5 characters)")
