"""The DDL of the run records every plugin writes: `sync_runs`, `dead_letters` and `sync_jobs`.

One owner: target-postgres's run log, the dead-letter store and the API targets' job log all create the
tables from here, so their columns cannot drift apart. `{runs}`, `{dead}` and `{jobs}` are
`psycopg.sql.Identifier`s filled in by the caller (schema-qualified).
"""

from __future__ import annotations

RUNS_DDL = """
CREATE TABLE IF NOT EXISTS {runs} (
    run_id uuid NOT NULL,
    stream text NOT NULL,
    pipeline text NOT NULL,
    target_table text NOT NULL,
    status text NOT NULL CHECK (status IN ('running', 'succeeded', 'failed', 'interrupted')),
    started_at timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    rows_inserted bigint NOT NULL DEFAULT 0,
    rows_updated bigint NOT NULL DEFAULT 0,
    rows_deleted bigint NOT NULL DEFAULT 0,
    rows_rejected bigint NOT NULL DEFAULT 0,
    batches integer NOT NULL DEFAULT 0,
    error text,
    host text,
    pid integer,
    lock_key bigint,
    PRIMARY KEY (run_id, stream)
);
COMMENT ON TABLE {runs} IS 'One row per loader run and stream: what was written, how it ended, and why it failed.';
CREATE INDEX IF NOT EXISTS sync_runs_pipeline_started ON {runs} (pipeline, started_at DESC);
CREATE INDEX IF NOT EXISTS sync_runs_target_finished ON {runs} (target_table, finished_at DESC);
CREATE TABLE IF NOT EXISTS {dead} (
    id bigserial PRIMARY KEY,
    run_id uuid NOT NULL,
    pipeline text NOT NULL,
    stream text NOT NULL,
    target_table text NOT NULL,
    rejected_at timestamptz NOT NULL DEFAULT now(),
    reason text NOT NULL,
    record jsonb
);
COMMENT ON TABLE {dead} IS 'Records the loader could not store (which field, why); every other record of their batch was loaded.';
"""
DEAD_LETTER_COLUMNS = ["run_id", "pipeline", "stream", "target_table", "reason", "record"]

# Columns API targets need, added to target-postgres's own table (RUNS_DDL). Rows target-postgres
# writes leave `target` null: they read back as target 'postgres'.
DEAD_LETTER_API_DDL = """
ALTER TABLE {dead} ADD COLUMN IF NOT EXISTS entity text;
ALTER TABLE {dead} ADD COLUMN IF NOT EXISTS api_response jsonb;
ALTER TABLE {dead} ADD COLUMN IF NOT EXISTS target text;
ALTER TABLE {dead} ADD COLUMN IF NOT EXISTS status text NOT NULL DEFAULT 'open';
ALTER TABLE {dead} ADD COLUMN IF NOT EXISTS replayed_at timestamptz;
CREATE INDEX IF NOT EXISTS dead_letters_status_stream ON {dead} (status, stream);
CREATE INDEX IF NOT EXISTS dead_letters_status_id ON {dead} (status, id);
CREATE INDEX IF NOT EXISTS dead_letters_pipeline_id ON {dead} (pipeline, id);
CREATE INDEX IF NOT EXISTS dead_letters_entity_id ON {dead} ((COALESCE(entity, target_table)), id);
"""

JOBS_DDL = """
CREATE TABLE IF NOT EXISTS {jobs} (
    plugin text NOT NULL,
    job_id text NOT NULL,
    run_id uuid NOT NULL,
    entity text NOT NULL,
    path text,
    items integer NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    state text NOT NULL DEFAULT 'submitted',
    succeeded integer,
    failed integer,
    error text,
    PRIMARY KEY (plugin, job_id)
);
COMMENT ON TABLE {jobs} IS 'One row per batch job an API target submitted: what it sent, and how the API says it ended.';
COMMENT ON COLUMN {jobs}.plugin IS 'The target that submitted the job (e.g. target-retailportal).';
COMMENT ON COLUMN {jobs}.job_id IS 'The job id the API returned (202 Accepted).';
COMMENT ON COLUMN {jobs}.run_id IS 'The run that submitted it; joins sync_runs and dead_letters.';
COMMENT ON COLUMN {jobs}.entity IS 'What the batch holds (the API entity, e.g. ErpProduct).';
COMMENT ON COLUMN {jobs}.path IS 'URL path the batch was posted to.';
COMMENT ON COLUMN {jobs}.items IS 'Number of records in the batch.';
COMMENT ON COLUMN {jobs}.created_at IS 'When the API accepted the job.';
COMMENT ON COLUMN {jobs}.finished_at IS 'When the job reached a final state; null while it runs.';
COMMENT ON COLUMN {jobs}.state IS 'submitted until the API reports a final state, then that state.';
COMMENT ON COLUMN {jobs}.succeeded IS 'Records the API applied.';
COMMENT ON COLUMN {jobs}.failed IS 'Records the API rejected (their details are in dead_letters).';
COMMENT ON COLUMN {jobs}.error IS 'Why the job failed as a whole, if it did.';
CREATE INDEX IF NOT EXISTS sync_jobs_run_id ON {jobs} (run_id);
"""
