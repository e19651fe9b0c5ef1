-- Speed of the requests in the report ledger (migration 0016): `fast` is true for requests the
-- upstream reported with `usage.speed: "fast"` (fast mode), so the messages and cost reports can
-- group by and filter on `speed` as Anthropic's Admin API does. Part of the key: a minute (hour)
-- of one developer, model, upstream and context size holds a standard and a fast row apart.
-- Rows written before this migration are standard speed (fast mode was priced, not recorded).
ALTER TABLE usage_minutes ADD COLUMN IF NOT EXISTS fast boolean NOT NULL DEFAULT false;
ALTER TABLE usage_minutes DROP CONSTRAINT IF EXISTS usage_minutes_pkey;
ALTER TABLE usage_minutes ADD PRIMARY KEY (minute, principal, model, upstream, long_context, fast);

ALTER TABLE usage_hours ADD COLUMN IF NOT EXISTS fast boolean NOT NULL DEFAULT false;
ALTER TABLE usage_hours DROP CONSTRAINT IF EXISTS usage_hours_pkey;
ALTER TABLE usage_hours ADD PRIMARY KEY (hour, principal, model, upstream, long_context, fast);
