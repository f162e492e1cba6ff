"""Local HTTP sandboxes of the ERP APIs Ponte reads, faithful to the documented (and observed) behaviour.

`run_in_thread(SiengeApp(records=10_000))`, `run_in_thread(BlingApp(companies=2))` or
`run_in_thread(TotvsApp())` for tests; `python -m ponte.sandbox sienge|bling|totvs` or
`ponte sandbox sienge|bling|totvs` for demos and benchmarks. See `server.py` for the shared machinery.
"""

from __future__ import annotations

from ponte.sandbox.server import Request, Response, Router, RunningSandbox, SandboxApp, run_in_thread

__all__ = ["Request", "Response", "Router", "RunningSandbox", "SandboxApp", "run_in_thread"]
