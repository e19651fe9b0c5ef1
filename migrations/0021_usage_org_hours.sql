-- The report ledger summed per hour for the whole organization (no developer): what hour reports
-- read when they neither group nor filter by a person — the console's week-by-hour charts by
-- model, upstream, speed or context window. A week of a 5,000-developer fleet is then a few hundred
-- rows instead of one per developer and active hour. Written by the metering flush with the other
-- ledger tables (lib/reports/ledger.ts), in the same transaction; swept with the spend window
-- (lib/store/sweeps.ts). Holds no principal, so erasing a developer leaves it alone, as
-- usage_org_days (0019). Filled from usage_hours for what was metered before this migration.
CREATE TABLE IF NOT EXISTS usage_org_hours (LIKE usage_org_days INCLUDING DEFAULTS);
ALTER TABLE usage_org_hours RENAME COLUMN day TO hour;
ALTER TABLE usage_org_hours ADD PRIMARY KEY (hour, model, upstream, long_context, fast);

INSERT INTO usage_org_hours (hour, model, upstream, long_context, fast, requests, input_tokens, output_tokens, cache_read_tokens, cache_write_5m_tokens, cache_write_1h_tokens, web_search_requests, input_micro_cents, output_micro_cents, cache_read_micro_cents, cache_write_5m_micro_cents, cache_write_1h_micro_cents, web_search_micro_cents)
SELECT hour, model, upstream, long_context, fast, sum(requests), sum(input_tokens), sum(output_tokens), sum(cache_read_tokens), sum(cache_write_5m_tokens), sum(cache_write_1h_tokens), sum(web_search_requests), sum(input_micro_cents), sum(output_micro_cents), sum(cache_read_micro_cents), sum(cache_write_5m_micro_cents), sum(cache_write_1h_micro_cents), sum(web_search_micro_cents)
FROM usage_hours GROUP BY 1, 2, 3, 4, 5
ON CONFLICT DO NOTHING;
