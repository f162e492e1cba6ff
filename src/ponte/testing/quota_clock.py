"""Make a day pass for the daily request counters a tap persists in its `state_dir` (tests, demos).

A tap counts its requests per calendar day in `<state_dir>/quota/<key>.json` (ponte.http.rate_budget), so a
test that plays several days within one real day turns each counter's day back, as midnight would.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path


def pass_midnight(state_dir: Path) -> None:
    """Every daily request counter under `state_dir` now belongs to the day before (its count no longer applies)."""
    for path in (state_dir / "quota").glob("*.json"):
        counter = json.loads(path.read_text())
        counter["date"] = (dt.date.fromisoformat(counter["date"]) - dt.timedelta(days=1)).isoformat()
        path.write_text(json.dumps(counter))
