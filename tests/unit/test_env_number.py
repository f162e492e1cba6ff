"""PONTE_* number settings: one reading and one error everywhere (ponte run's lock wait, the service, webhooks)."""

from __future__ import annotations

import pytest

from ponte.core.errors import ConfigError
from ponte.core.setting_text import env_number


def test_unset_or_empty_is_the_default_and_a_number_is_read() -> None:
    assert env_number({}, "PONTE_X_SECONDS", 30.0) == 30.0
    assert env_number({"PONTE_X_SECONDS": "  "}, "PONTE_X_SECONDS", 30.0) == 30.0
    assert env_number({"PONTE_X_SECONDS": "0"}, "PONTE_X_SECONDS", 30.0) == 0.0
    assert env_number({"PONTE_X_SECONDS": "2.5"}, "PONTE_X_SECONDS", 30.0, above=True) == 2.5


@pytest.mark.parametrize(("text", "above"), [("abc", False), ("-1", False), ("inf", False), ("nan", False), ("0", True)])
def test_a_bad_value_names_the_setting_the_bound_and_what_was_given(text: str, above: bool) -> None:
    with pytest.raises(ConfigError) as refused:
        env_number({"PONTE_X_SECONDS": text}, "PONTE_X_SECONDS", 30.0, above=above)
    bound = "more than 0" if above else "0 or more"
    assert str(refused.value) == f"PONTE_X_SECONDS must be a number, {bound}; got {text!r}"
