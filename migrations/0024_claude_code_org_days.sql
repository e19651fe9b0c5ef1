-- The Claude Code analytics (claude_code_daily, 0017) summed per UTC day for the whole
-- organization, and who was active each day, so the console's analytics totals
-- (lib/console/analytics.ts) read a few hundred rows for a month instead of one per developer,
-- day and metric key (1.8M rows for 5,000 developers over 30 days).
--
--   claude_code_org_days        (day, metric, k1, k2) → value: claude_code_daily without the
--                               developer. Holds no developer.
--   claude_code_day_principals  (day, principal): the developers with at least one
--                               claude_code_daily row that day. Holds a developer.
--
-- Invariants, at every commit:
--   claude_code_org_days.value = sum(claude_code_daily.value) over developers for that
--     (day, metric, k1, k2), exactly (numeric, no rounding); a missing row stands for 0 (a key
--     whose rows are all deleted loses its row).
--   (day, principal) is in claude_code_day_principals exactly when claude_code_daily has a row
--     for that day and developer.
-- They are kept by statement-level triggers on claude_code_daily (weir_claude_code_rollup), which
-- run inside the statement that changes it, whoever runs it: the analytics writer's upsert
-- (lib/telemetry/analytics.ts — a cumulative series has already been turned into its increase
-- there, so the rollup adds the same delta the developer's row does), the retention sweep, an
-- operator erasing a developer (`DELETE FROM claude_code_daily WHERE principal = …` also removes
-- their days here and their share of the sums, so no developer's data outlives them), and test or
-- bench fixtures. Inserted rows add their values, updated rows add new minus old, deleted rows
-- subtract theirs; rollup rows are locked in key order so concurrent writers never deadlock on
-- them. Swept with claude_code_daily's rule (spend window, by day; lib/store/sweeps.ts), after it:
-- the triggers have already removed the days the sweep deleted, and when a run stops at its batch
-- limit the rest of a day past the cutoff goes here first (a later delete there then finds no
-- row to subtract from), so the invariants hold for every day inside the retention window.
-- Filled here from the rows already in claude_code_daily, with writers held off by a table lock
-- for the migration's transaction.
LOCK TABLE claude_code_daily IN SHARE ROW EXCLUSIVE MODE;

CREATE TABLE IF NOT EXISTS claude_code_org_days (
  day        date NOT NULL,
  metric     text NOT NULL,
  k1         text NOT NULL DEFAULT '',
  k2         text NOT NULL DEFAULT '',
  value      numeric NOT NULL DEFAULT 0,
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (day, metric, k1, k2)
);

CREATE TABLE IF NOT EXISTS claude_code_day_principals (
  day        date NOT NULL,
  principal  text NOT NULL,
  PRIMARY KEY (day, principal)
);

CREATE OR REPLACE FUNCTION weir_claude_code_rollup () RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO claude_code_org_days AS o (day, metric, k1, k2, value, updated_at)
    SELECT n.day, n.metric, n.k1, n.k2, sum(n.value), now() FROM weir_cc_new n
    GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
    ON CONFLICT (day, metric, k1, k2) DO UPDATE SET value = o.value + excluded.value, updated_at = now();
    INSERT INTO claude_code_day_principals (day, principal)
    SELECT DISTINCT n.day, n.principal FROM weir_cc_new n ORDER BY 1, 2
    ON CONFLICT DO NOTHING;
  ELSIF TG_OP = 'UPDATE' THEN
    INSERT INTO claude_code_org_days AS o (day, metric, k1, k2, value, updated_at)
    SELECT c.day, c.metric, c.k1, c.k2, sum(c.v), now()
    FROM (SELECT n.day, n.metric, n.k1, n.k2, n.value AS v FROM weir_cc_new n
          UNION ALL SELECT d.day, d.metric, d.k1, d.k2, -d.value FROM weir_cc_old d) c
    GROUP BY 1, 2, 3, 4 HAVING sum(c.v) <> 0 ORDER BY 1, 2, 3, 4
    ON CONFLICT (day, metric, k1, k2) DO UPDATE SET value = o.value + excluded.value, updated_at = now();
    -- The writer only changes values; a statement that moves rows to other keys is followed too.
    INSERT INTO claude_code_day_principals (day, principal)
    SELECT DISTINCT n.day, n.principal FROM weir_cc_new n ORDER BY 1, 2
    ON CONFLICT DO NOTHING;
    DELETE FROM claude_code_day_principals p
    USING (SELECT d.day, d.principal FROM weir_cc_old d EXCEPT SELECT n.day, n.principal FROM weir_cc_new n) g
    WHERE p.day = g.day AND p.principal = g.principal
      AND NOT EXISTS (SELECT 1 FROM claude_code_daily c WHERE c.day = g.day AND c.principal = g.principal);
    DELETE FROM claude_code_org_days o
    USING (SELECT DISTINCT d.day, d.metric, d.k1, d.k2 FROM weir_cc_old d) g
    WHERE o.day = g.day AND o.metric = g.metric AND o.k1 = g.k1 AND o.k2 = g.k2 AND o.value = 0;
  ELSE
    PERFORM 1 FROM claude_code_org_days o
    WHERE (o.day, o.metric, o.k1, o.k2) IN (SELECT d.day, d.metric, d.k1, d.k2 FROM weir_cc_old d)
    ORDER BY o.day, o.metric, o.k1, o.k2 FOR UPDATE;
    UPDATE claude_code_org_days o SET value = o.value - g.v, updated_at = now()
    FROM (SELECT d.day, d.metric, d.k1, d.k2, sum(d.value) AS v FROM weir_cc_old d GROUP BY 1, 2, 3, 4) g
    WHERE o.day = g.day AND o.metric = g.metric AND o.k1 = g.k1 AND o.k2 = g.k2;
    DELETE FROM claude_code_org_days o
    USING (SELECT DISTINCT d.day, d.metric, d.k1, d.k2 FROM weir_cc_old d) g
    WHERE o.day = g.day AND o.metric = g.metric AND o.k1 = g.k1 AND o.k2 = g.k2 AND o.value = 0;
    DELETE FROM claude_code_day_principals p
    USING (SELECT DISTINCT d.day, d.principal FROM weir_cc_old d) g
    WHERE p.day = g.day AND p.principal = g.principal
      AND NOT EXISTS (SELECT 1 FROM claude_code_daily c WHERE c.day = g.day AND c.principal = g.principal);
  END IF;
  RETURN NULL;
END $$;

DROP TRIGGER IF EXISTS claude_code_rollup_insert ON claude_code_daily;
CREATE TRIGGER claude_code_rollup_insert AFTER INSERT ON claude_code_daily
  REFERENCING NEW TABLE AS weir_cc_new FOR EACH STATEMENT EXECUTE FUNCTION weir_claude_code_rollup();
DROP TRIGGER IF EXISTS claude_code_rollup_update ON claude_code_daily;
CREATE TRIGGER claude_code_rollup_update AFTER UPDATE ON claude_code_daily
  REFERENCING OLD TABLE AS weir_cc_old NEW TABLE AS weir_cc_new FOR EACH STATEMENT EXECUTE FUNCTION weir_claude_code_rollup();
DROP TRIGGER IF EXISTS claude_code_rollup_delete ON claude_code_daily;
CREATE TRIGGER claude_code_rollup_delete AFTER DELETE ON claude_code_daily
  REFERENCING OLD TABLE AS weir_cc_old FOR EACH STATEMENT EXECUTE FUNCTION weir_claude_code_rollup();

INSERT INTO claude_code_org_days (day, metric, k1, k2, value)
SELECT day, metric, k1, k2, sum(value) FROM claude_code_daily GROUP BY 1, 2, 3, 4
ON CONFLICT DO NOTHING;
INSERT INTO claude_code_day_principals (day, principal)
SELECT DISTINCT day, principal FROM claude_code_daily
ON CONFLICT DO NOTHING;
