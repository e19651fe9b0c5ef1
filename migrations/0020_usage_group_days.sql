-- The report ledger summed per UTC day and IdP group (no developer): what day reports read when
-- they group by `idp_group` and otherwise neither group nor filter by a person (the console's
-- cost-by-group chart). A month of a 5,000-developer fleet in 20 groups is then a few thousand rows
-- instead of one per developer and active hour joined to each developer's groups.
--
-- Invariant: every row equals what the per-developer hourly rows (`usage_hours`) give when each
-- developer is counted in every group of their last-seen identity (`principal_emails.groups`),
-- and under '' (reported as null) when none is known — exactly what lib/reports/query.ts computes
-- from usage_hours, to the micro-cent. Kept so by:
--   * the metering flush (lib/reports/ledger.ts), in the transaction that writes usage_hours,
--     adding each minute row under the groups its developer has then; and
--   * triggers on principal_emails: when a developer's groups change (first seen, new groups,
--     identity swept or erased) their whole usage_hours history moves from the old groups to the
--     new ones, and rows left all zero are removed.
-- A transaction advisory lock (key 7301020: shared by the flush, exclusive by a move) orders the
-- two, so a flush never adds under groups a concurrent move has already replaced.
--
-- Holds no principal: erasing a developer leaves their share in the group totals, as in
-- usage_org_days (0019). Swept with the spend window (lib/store/sweeps.ts). Filled from usage_hours
-- and the current identities for what was metered before this migration.
CREATE TABLE IF NOT EXISTS usage_group_days (
  day             timestamptz NOT NULL,
  idp_group       text NOT NULL,
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
  PRIMARY KEY (day, idp_group, model, upstream, long_context, fast)
);

-- The groups a last-seen identity counts in, as the reports expand them: each element of the
-- groups array (duplicates included), or '' alone when there is none.
CREATE OR REPLACE FUNCTION weir_usage_group_names (g jsonb) RETURNS SETOF text LANGUAGE sql IMMUTABLE AS $$
  SELECT x FROM jsonb_array_elements_text(CASE WHEN jsonb_typeof(g) = 'array' THEN g ELSE '[]'::jsonb END) x
  UNION ALL
  SELECT '' WHERE jsonb_typeof(g) IS DISTINCT FROM 'array' OR jsonb_array_length(g) = 0
$$;

-- Add (k = 1) or take away (k = -1) a developer's whole usage_hours history under groups g.
CREATE OR REPLACE FUNCTION weir_usage_group_days_move (p text, g jsonb, k int) RETURNS void LANGUAGE sql AS $$
  INSERT INTO usage_group_days (day, idp_group, model, upstream, long_context, fast, requests, input_tokens, output_tokens, cache_read_tokens, cache_write_5m_tokens, cache_write_1h_tokens, web_search_requests, input_micro_cents, output_micro_cents, cache_read_micro_cents, cache_write_5m_micro_cents, cache_write_1h_micro_cents, web_search_micro_cents, updated_at)
  SELECT date_trunc('day', h.hour, 'UTC'), n.name, h.model, h.upstream, h.long_context, h.fast,
    k * sum(h.requests), k * sum(h.input_tokens), k * sum(h.output_tokens), k * sum(h.cache_read_tokens), k * sum(h.cache_write_5m_tokens), k * sum(h.cache_write_1h_tokens), k * sum(h.web_search_requests), k * sum(h.input_micro_cents), k * sum(h.output_micro_cents), k * sum(h.cache_read_micro_cents), k * sum(h.cache_write_5m_micro_cents), k * sum(h.cache_write_1h_micro_cents), k * sum(h.web_search_micro_cents), now()
  FROM usage_hours h CROSS JOIN weir_usage_group_names(g) AS n(name)
  WHERE h.principal = p
  GROUP BY 1, 2, 3, 4, 5, 6
  ORDER BY 1, 2, 3, 4, 5, 6
  ON CONFLICT (day, idp_group, model, upstream, long_context, fast) DO UPDATE SET
    requests = usage_group_days.requests + excluded.requests,
    input_tokens = usage_group_days.input_tokens + excluded.input_tokens,
    output_tokens = usage_group_days.output_tokens + excluded.output_tokens,
    cache_read_tokens = usage_group_days.cache_read_tokens + excluded.cache_read_tokens,
    cache_write_5m_tokens = usage_group_days.cache_write_5m_tokens + excluded.cache_write_5m_tokens,
    cache_write_1h_tokens = usage_group_days.cache_write_1h_tokens + excluded.cache_write_1h_tokens,
    web_search_requests = usage_group_days.web_search_requests + excluded.web_search_requests,
    input_micro_cents = usage_group_days.input_micro_cents + excluded.input_micro_cents,
    output_micro_cents = usage_group_days.output_micro_cents + excluded.output_micro_cents,
    cache_read_micro_cents = usage_group_days.cache_read_micro_cents + excluded.cache_read_micro_cents,
    cache_write_5m_micro_cents = usage_group_days.cache_write_5m_micro_cents + excluded.cache_write_5m_micro_cents,
    cache_write_1h_micro_cents = usage_group_days.cache_write_1h_micro_cents + excluded.cache_write_1h_micro_cents,
    web_search_micro_cents = usage_group_days.web_search_micro_cents + excluded.web_search_micro_cents,
    updated_at = now()
$$;

CREATE OR REPLACE FUNCTION weir_usage_group_days_regroup () RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  p text;
  g_old jsonb;
  g_new jsonb;
BEGIN
  IF TG_OP = 'INSERT' THEN p := NEW.principal; g_old := NULL; g_new := NEW.groups;
  ELSIF TG_OP = 'DELETE' THEN p := OLD.principal; g_old := OLD.groups; g_new := NULL;
  ELSE p := NEW.principal; g_old := OLD.groups; g_new := NEW.groups;
  END IF;
  PERFORM pg_advisory_xact_lock(7301020);
  PERFORM weir_usage_group_days_move(p, g_old, -1);
  PERFORM weir_usage_group_days_move(p, g_new, 1);
  DELETE FROM usage_group_days d
  WHERE d.idp_group IN (SELECT weir_usage_group_names(g_old))
    AND d.day IN (SELECT DISTINCT date_trunc('day', h.hour, 'UTC') FROM usage_hours h WHERE h.principal = p)
    AND requests = 0 and input_tokens = 0 and output_tokens = 0 and cache_read_tokens = 0 and cache_write_5m_tokens = 0 and cache_write_1h_tokens = 0 and web_search_requests = 0 and input_micro_cents = 0 and output_micro_cents = 0 and cache_read_micro_cents = 0 and cache_write_5m_micro_cents = 0 and cache_write_1h_micro_cents = 0 and web_search_micro_cents = 0;
  RETURN NULL;
END
$$;

DROP TRIGGER IF EXISTS usage_group_days_insert ON principal_emails;
CREATE TRIGGER usage_group_days_insert AFTER INSERT ON principal_emails
  FOR EACH ROW EXECUTE FUNCTION weir_usage_group_days_regroup();
DROP TRIGGER IF EXISTS usage_group_days_update ON principal_emails;
CREATE TRIGGER usage_group_days_update AFTER UPDATE OF groups ON principal_emails
  FOR EACH ROW WHEN (OLD.groups IS DISTINCT FROM NEW.groups) EXECUTE FUNCTION weir_usage_group_days_regroup();
DROP TRIGGER IF EXISTS usage_group_days_delete ON principal_emails;
CREATE TRIGGER usage_group_days_delete AFTER DELETE ON principal_emails
  FOR EACH ROW EXECUTE FUNCTION weir_usage_group_days_regroup();

INSERT INTO usage_group_days (day, idp_group, model, upstream, long_context, fast, requests, input_tokens, output_tokens, cache_read_tokens, cache_write_5m_tokens, cache_write_1h_tokens, web_search_requests, input_micro_cents, output_micro_cents, cache_read_micro_cents, cache_write_5m_micro_cents, cache_write_1h_micro_cents, web_search_micro_cents)
SELECT date_trunc('day', h.hour, 'UTC'), n.name, h.model, h.upstream, h.long_context, h.fast,
  sum(h.requests), sum(h.input_tokens), sum(h.output_tokens), sum(h.cache_read_tokens), sum(h.cache_write_5m_tokens), sum(h.cache_write_1h_tokens), sum(h.web_search_requests), sum(h.input_micro_cents), sum(h.output_micro_cents), sum(h.cache_read_micro_cents), sum(h.cache_write_5m_micro_cents), sum(h.cache_write_1h_micro_cents), sum(h.web_search_micro_cents)
FROM usage_hours h LEFT JOIN principal_emails e ON e.principal = h.principal CROSS JOIN LATERAL weir_usage_group_names(e.groups) AS n(name)
GROUP BY 1, 2, 3, 4, 5, 6
ON CONFLICT DO NOTHING;
