"""singer-sdk's standard tap tests for tap-sienge: every stream returns records that match its schema.

The SDK suite runs the tap in-process, but the API is the sandbox in its own process over a real socket.
It is started when this module is imported because the SDK builds its test class from a fixed config.
The SDK checks records against the *discovered* catalog, so the sandbox sends only the Swagger's fields here;
fields the API sends beyond it are kept by the tap and tested in test_tap_sienge_undeclared_fields.py.
"""

from __future__ import annotations

import atexit
import tempfile

from singer_sdk.testing import SuiteConfig, get_tap_test_class

from ponte.cli.taps import declaration_path
from ponte.spec import load_tap_spec
from ponte.tap.factory import build_tap_class
from ponte.testing.in_process import SandboxThread

_SANDBOX = SandboxThread.start("sienge", "--records", "300", "--rate-limit", "0", "--set", "extra_fields=false")
atexit.register(_SANDBOX.stop)

_DECLARATION = load_tap_spec(declaration_path("sienge"))
TapSienge = build_tap_class(_DECLARATION.data, _DECLARATION.base_dir, _DECLARATION.file)

CONFIG = {
    "subdomain": "demo",
    "username": "demo-api",
    "password": "demo-secret",
    "base_url": _SANDBOX.base_url,
    "start_date": "2000-01-01",
    "state_dir": tempfile.mkdtemp(prefix="ponte-sdk-tests-"),
}

TestTapSienge = get_tap_test_class(TapSienge, config=CONFIG, suite_config=SuiteConfig(max_records_limit=1000))
