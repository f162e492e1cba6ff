"""Local HTTP sandboxes of the APIs Ponte reads and writes, faithful to the documented (and observed) behaviour.

ERPs read by the taps: `sienge`, `bling`, `totvs` (Protheus, a plant API, RM Educacional); ingest APIs the
targets write to: `proextend`, `retailportal`; and `keyence`, a gateway writing line-counter files. Run them with
`ponte sandbox <name>` (or `python -m ponte.sandbox <name>`) for demos and benchmarks, or in a thread in tests,
e.g. `run_in_thread(SiengeApp(records=10_000))`. See `server.py` for the shared machinery."""

from __future__ import annotations

from ponte.sandbox.server import Request, Response, Router, RunningSandbox, SandboxApp, run_in_thread

__all__ = ["Request", "Response", "Router", "RunningSandbox", "SandboxApp", "run_in_thread"]
