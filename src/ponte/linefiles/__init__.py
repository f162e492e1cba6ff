"""KEYENCE line counters: the SICFAR gateway's TXT files → Singer records → PostgreSQL, live.

* `declaration` — the `format: line_files` declaration (taps/keyence.yml): files, delimiter, typed columns.
* `parsing` — one line's bytes → a typed record, or the reason it was rejected.
* `reader` — incremental reading of a folder by file fingerprint and byte offset (rotation, truncation,
  half-written last lines), with the resumable state that goes into Singer STATE.
* `tap` — `tap-keyence`, the singer-sdk tap (one-shot, or `follow: true` to keep reading).
* `follow` — `ponte follow keyence`: the long-running tap → target-postgres pipeline with saved state.
* `views` — the view of accumulated counts per production order (`keyence.producao_por_ordem`).

Nothing here imports singer-sdk except `tap`, so validation and `ponte follow` start quickly.
"""

from __future__ import annotations

from ponte.linefiles import declaration as declaration  # registers the checks of `format: line_files`
