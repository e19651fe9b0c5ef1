-- The report ledger summed per UTC day for the whole organization (no developer): what day
-- reports read when they neither group nor filter by a person (account_id, user_email, idp_group):
-- the overview charts by model, upstream, speed, context window or cost kind. A month of a
-- 5,000-developer fleet is then a few hundred rows instead of one per developer and active hour.
-- Written by the metering flush with usage_minutes and usage_hours (lib/reports/ledger.ts), in
-- the same transaction; swept with the spend window (lib/store/sweeps.ts). Holds no principal,
-- so erasing a developer leaves it alone (their share stays in the organization's totals, as in
-- pooled spend). Filled from usage_hours for what was metered before this migration.
CREATE TABLE IF NOT EXISTS usage_org_days (
  day             timestamptz NOT NULL,
  model           text NOT NULL,
  upstream        text NOT NULL DEFAULT '',
  long_context    boolean NOT NULL DEFAULT false,
  fast            boolean NOT NULL DEFAULT false,
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
  PRIMARY KEY (day, model, upstream, long_context, fast)
);

INSERT INTO usage_org_days (day, model, upstream, long_context, fast, requests, input_tokens, output_tokens, cache_read_tokens,
  cache_write_5m_tokens, cache_write_1h_tokens, web_search_requests, input_micro_cents, output_micro_cents, cache_read_micro_cents,
  cache_write_5m_micro_cents, cache_write_1h_micro_cents, web_search_micro_cents)
SELECT date_trunc('day', hour, 'UTC'), model, upstream, long_context, fast, sum(requests), sum(input_tokens), sum(output_tokens),
  sum(cache_read_tokens), sum(cache_write_5m_tokens), sum(cache_write_1h_tokens), sum(web_search_requests), sum(input_micro_cents),
  sum(output_micro_cents), sum(cache_read_micro_cents), sum(cache_write_5m_micro_cents), sum(cache_write_1h_micro_cents), sum(web_search_micro_cents)
FROM usage_hours GROUP BY 1, 2, 3, 4, 5
ON CONFLICT DO NOTHING;
