-- Exact spend ledger. `spend.cents` and `pooled_spend.cents` (double precision, the reference
-- gateway's columns) cannot add up thousands of fractional amounts without drifting, so Weir keeps
-- the authoritative amount in whole micro-cents (1 micro-cent = 1/1,000,000 cent) in a bigint and
-- derives `cents` from it on every write (cents = micro_cents / 1e6), so readers of `cents` keep
-- working. Rows written before this migration (e.g. by the reference gateway in an adopted
-- database) are carried over from their `cents`.
ALTER TABLE spend ADD COLUMN IF NOT EXISTS micro_cents bigint NOT NULL DEFAULT 0;
ALTER TABLE pooled_spend ADD COLUMN IF NOT EXISTS micro_cents bigint NOT NULL DEFAULT 0;

UPDATE spend SET micro_cents = round(cents::numeric * 1000000)::bigint WHERE micro_cents = 0 AND cents <> 0;
UPDATE pooled_spend SET micro_cents = round(cents::numeric * 1000000)::bigint WHERE micro_cents = 0 AND cents <> 0;

-- "Top spenders in this period" (/effective?sort=spend_desc) on the exact amount.
CREATE INDEX IF NOT EXISTS spend_period_micro_cents ON spend (period, micro_cents DESC, principal);
