-- transforms/sql/sicfar_lot_closures.sql: the contract between SicFar (the plant's app) and Ponte's write-back
-- to TOTVS (issue #18; guide docs/sicfar-totvs-writeback.md). Version 1. Idempotent: run it again after an upgrade
-- (`psql "$PONTE_DB_DSN" -f transforms/sql/sicfar_lot_closures.sql`).
--
-- SicFar WRITES sicfar.lot_closures, one row when a supervisor signs a lot's logbook (Diário de Bordo), and
-- never changes it afterwards (a correction is a new lot closure in TOTVS terms, agreed with the plant).
-- Ponte READS sicfar.lots_ready_to_post (tap-postgres, incremental on closed_at): each closure with the units the
-- KEYENCE counters produced for its order (keyence.producao_por_ordem, kept by `ponte follow keyence-to-postgres`).
-- Needs the keyence schema first (`meltano invoke tap-keyence:setup-db`).

CREATE SCHEMA IF NOT EXISTS sicfar;

CREATE TABLE IF NOT EXISTS sicfar.lot_closures (
    ordem_producao text        NOT NULL,
    lote           text        NOT NULL,
    closed_at      timestamptz NOT NULL DEFAULT now(),
    signed_by      text        NOT NULL,
    perdas         jsonb       NOT NULL DEFAULT '{}'::jsonb,
    status_lote    text        NOT NULL DEFAULT 'QUARENTENA',
    PRIMARY KEY (ordem_producao, lote),
    CONSTRAINT lot_closures_perdas_by_reason CHECK (jsonb_typeof(perdas) = 'object'),
    CONSTRAINT lot_closures_status CHECK (status_lote IN ('QUARENTENA', 'LIBERADO', 'REPROVADO', 'BLOQUEADO'))
);
CREATE INDEX IF NOT EXISTS lot_closures_closed_at_idx ON sicfar.lot_closures (closed_at);

COMMENT ON TABLE sicfar.lot_closures IS
    'Lots closed in SicFar (a supervisor signed the logbook): written by SicFar, read by Ponte through '
    'sicfar.lots_ready_to_post and posted to TOTVS once (job sicfar-to-totvs). One row per order and lot.';
COMMENT ON COLUMN sicfar.lot_closures.ordem_producao IS
    'TOTVS production order (C2_NUM+C2_ITEM+C2_SEQUEN, e.g. 00410101001), as keyence.producao_por_ordem names it.';
COMMENT ON COLUMN sicfar.lot_closures.lote IS 'TOTVS lot of the order (B8_LOTECTL, at most 10 characters).';
COMMENT ON COLUMN sicfar.lot_closures.closed_at IS
    'When the supervisor signed. Ponte''s bookmark: a row must be inserted with closed_at no earlier than the '
    'newest row already there (the default now() does it), or it is only read by a full re-read.';
COMMENT ON COLUMN sicfar.lot_closures.signed_by IS 'Who signed the closure (SicFar user); sent as the appointment''s responsavel.';
COMMENT ON COLUMN sicfar.lot_closures.perdas IS
    'Quality losses by reason, units: {"<motivo>": <quantidade>, ...}, e.g. {"vazamento": 12, "rotulo": 3}.';
COMMENT ON COLUMN sicfar.lot_closures.status_lote IS
    'Status the lot takes in TOTVS after closing: QUARENTENA (default, awaiting quality), LIBERADO, REPROVADO, BLOQUEADO.';

-- One row per closure, with the KEYENCE totals of its order (every line together). CREATE OR REPLACE keeps
-- existing grants; a closure whose order has no KEYENCE reading yet shows 0 produced (TOTVS refuses a zero
-- appointment: it is dead-lettered, not lost).
CREATE OR REPLACE VIEW sicfar.lots_ready_to_post AS
SELECT c.ordem_producao,
       c.lote,
       c.closed_at,
       c.signed_by,
       c.perdas,
       c.status_lote,
       coalesce(k.produzidos, 0)::numeric AS produzidos,
       coalesce(k.rejeitados, 0)::numeric AS rejeitados_keyence,
       coalesce((SELECT sum(value::numeric) FROM jsonb_each_text(c.perdas)), 0) AS perdas_total
FROM sicfar.lot_closures c
LEFT JOIN (
    SELECT ordem_producao, sum(produzidos) AS produzidos, sum(rejeitados) AS rejeitados
    FROM keyence.producao_por_ordem
    GROUP BY ordem_producao
) k ON k.ordem_producao = c.ordem_producao;

COMMENT ON VIEW sicfar.lots_ready_to_post IS
    'Lot closures with their KEYENCE totals, as Ponte posts them to TOTVS (tap-postgres stream '
    'sicfar-lots_ready_to_post, incremental on closed_at; mapping transforms/sicfar-to-totvs.yml).';
COMMENT ON COLUMN sicfar.lots_ready_to_post.produzidos IS
    'Units the KEYENCE counters produced for the order (all lines): the appointment''s quantity.';
COMMENT ON COLUMN sicfar.lots_ready_to_post.rejeitados_keyence IS 'Units the KEYENCE sensors rejected for the order (all lines).';
COMMENT ON COLUMN sicfar.lots_ready_to_post.perdas_total IS 'Sum of the losses by reason the supervisor recorded.';
