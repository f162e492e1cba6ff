"""Run records: what a run did, kept for people and for `ponte run`.

`report` is the plugins' side of a run (facts appended for the `ponte run` that started them); `tables` owns the
DDL of `sync_runs`, `sync_jobs` and `dead_letters`; `dead_letters` stores records that could not be delivered,
in PostgreSQL or a JSONL file. Builds only on `ponte.core`."""
