"""singer-sdk's standard tap tests for tap-sienge: every stream returns records that match its schema.

The SDK suite runs the tap in-process against the sandbox served from a thread over a real socket. The SDK
builds its test class from a config fixed at import, so the sandbox's URL is written into that same dict by a
class fixture that starts the sandbox before the SDK's runner syncs (nothing is started at import).
The SDK checks records against the *discovered* catalog, so the sandbox sends only the Swagger's fields here;
fields the API sends beyond it are kept by the tap and tested in test_tap_sienge_undeclared_fields.py.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator

import pytest
from singer_sdk.testing import SuiteConfig, get_tap_test_class

from ponte.cli.taps import declaration_path
from ponte.declaration import load_tap_spec
from ponte.tap.factory import build_tap_class
from ponte.testing.in_process import SandboxThread

_DECLARATION = load_tap_spec(declaration_path("sienge"))
TapSienge = build_tap_class(_DECLARATION.data, _DECLARATION.base_dir, _DECLARATION.file)

CONFIG = {
    "subdomain": "demo",
    "username": "demo-api",
    "password": "demo-secret",
    "base_url": "http://127.0.0.1:9/not-started",  # set by the `sandbox` fixture
    "start_date": "2000-01-01",
    "state_dir": tempfile.mkdtemp(prefix="ponte-sdk-tests-"),
}


class TestTapSienge(get_tap_test_class(TapSienge, config=CONFIG, suite_config=SuiteConfig(max_records_limit=1000))):
    """The SDK's suite, with the sandbox started for the class and stopped after it."""

    @pytest.fixture(scope="class", autouse=True)
    @classmethod
    def sandbox(cls) -> Iterator[None]:
        args = ("--records", "300", "--rate-limit", "0", "--set", "extra_fields=false")
        with SandboxThread.start("sienge", *args) as running:
            CONFIG["base_url"] = running.base_url
            yield
