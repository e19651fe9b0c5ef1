-- Token usage and its exact cost per minute (`usage_minutes`) and per hour (`usage_hours`, the
-- same rows summed by hour), developer, requested model and upstream: what the Admin API report shapes (`GET /v1/organizations/usage_report/messages` and `.../cost_report`,
-- lib/reports/) are read from. Written by the batched metering flush in the same transaction as
-- `spend` (lib/spend/store.ts writeLedger), so the cost columns add up to exactly what the spend
-- ledger holds for the same requests. Costs are whole micro-cents per token kind: a request's
-- cost is split over its kinds so that the parts always add up to its ledger amount.
--
--   minute       start of the UTC minute in which the request was admitted
--   principal    the OIDC subject that made it
--   model        the model the client asked for ('' never; as spend_by_model)
--   upstream     the upstream that served it ('' when none is known)
--   long_context prompt (input + cache read + cache write) above 200k tokens
--
-- Minute detail (1m report buckets) is kept 31 days; the hourly rows (1h and 1d buckets) follow the
-- spend ledger (admin.spend_retention_months). Erasing a developer deletes their rows by principal
-- (docs/operations.md). The hourly table keeps day and hour reports over a year of a large fleet
-- to a few rows per developer-hour instead of one per active minute.
CREATE TABLE IF NOT EXISTS usage_minutes (
  minute          timestamptz NOT NULL,
  principal       text NOT NULL,
  model           text NOT NULL,
  upstream        text NOT NULL DEFAULT '',
  long_context    boolean NOT NULL DEFAULT false,
  requests        bigint NOT NULL DEFAULT 0,
  input_tokens    bigint NOT NULL DEFAULT 0,
  output_tokens   bigint NOT NULL DEFAULT 0,
  cache_read_tokens   bigint NOT NULL DEFAULT 0,
  cache_write_5m_tokens bigint NOT NULL DEFAULT 0,
  cache_write_1h_tokens bigint NOT NULL DEFAULT 0,
  web_search_requests bigint NOT NULL DEFAULT 0,
  input_micro_cents      bigint NOT NULL DEFAULT 0,
  output_micro_cents     bigint NOT NULL DEFAULT 0,
  cache_read_micro_cents bigint NOT NULL DEFAULT 0,
  cache_write_5m_micro_cents bigint NOT NULL DEFAULT 0,
  cache_write_1h_micro_cents bigint NOT NULL DEFAULT 0,
  web_search_micro_cents bigint NOT NULL DEFAULT 0,
  updated_at      timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (minute, principal, model, upstream, long_context)
);

CREATE INDEX IF NOT EXISTS usage_minutes_principal ON usage_minutes (principal);

CREATE TABLE IF NOT EXISTS usage_hours (LIKE usage_minutes INCLUDING DEFAULTS);
ALTER TABLE usage_hours RENAME COLUMN minute TO hour;
ALTER TABLE usage_hours ADD PRIMARY KEY (hour, principal, model, upstream, long_context);
CREATE INDEX IF NOT EXISTS usage_hours_principal ON usage_hours (principal);
