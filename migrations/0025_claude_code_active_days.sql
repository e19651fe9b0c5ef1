-- Who was active when, kept in two shapes beside the (day, developer) pairs of migration 0024
-- (claude_code_day_principals), so the console's analytics totals (lib/console/analytics.ts) count
-- active developers without reading every pair of the range: 450,000 pairs for 5,000 developers
-- over 90 days became 90 count rows plus one bitmap row per developer and year.
--
--   claude_code_day_people       day → people: how many developers were active that day.
--                                Holds no developer.
--   claude_code_principal_years  (year, principal) → days bit(366): bit d (0 = leftmost) is set
--                                when the developer was active on day d + 1 of that UTC year
--                                (extract(doy) - 1; bit 365 is 31 December of a leap year and is
--                                never set in other years). Holds a developer.
--
-- Invariants, at every commit:
--   claude_code_day_people.people = the number of claude_code_day_principals rows with that day;
--     a day without pairs has no row (never a 0 or a negative count).
--   bit (doy - 1) of claude_code_principal_years.days for (year, principal) is set exactly when
--     claude_code_day_principals holds (that day, principal); a developer with no pair in a year
--     has no row for it (never an all-zero bitmap).
-- So "developers active in [a, b)" is the number of distinct principals whose row for a year the
-- range touches has a bit inside the range (one or two years, as a range is at most 366 days):
-- at most one row per developer and year, whatever the range's length.
--
-- Both are kept by statement-level triggers on claude_code_day_principals
-- (weir_claude_code_active_days), so every way pairs come and go keeps them: the 0024 triggers on
-- claude_code_daily (the analytics writer's upsert, an operator erasing a developer with
-- `DELETE FROM claude_code_daily WHERE principal = …`, which clears their bits and drops their
-- rows here too), and the retention sweep deleting leftover pairs directly (lib/store/sweeps.ts;
-- a year whose last pair goes loses its row, so nothing here outlives the window either). Pairs
-- are only inserted and deleted, never updated. A pair is inserted only when new (its primary key
-- serializes writers adding or removing the same one), so adding one to the count and OR-ing its
-- bit, and subtracting it and AND-ing its bit off, are exact; rows here are locked in key order
-- (days, then (year, principal)) after the pairs, so concurrent writers never deadlock on them.
-- Filled here from the pairs already kept, with writers held off by table locks (taken in the
-- writer's order: claude_code_daily, then the pairs) for the migration's transaction.
LOCK TABLE claude_code_daily IN SHARE ROW EXCLUSIVE MODE;
LOCK TABLE claude_code_day_principals IN SHARE ROW EXCLUSIVE MODE;

CREATE TABLE IF NOT EXISTS claude_code_day_people (
  day    date PRIMARY KEY,
  people bigint NOT NULL
);

CREATE TABLE IF NOT EXISTS claude_code_principal_years (
  year      smallint NOT NULL,
  principal text NOT NULL,
  days      bit(366) NOT NULL,
  PRIMARY KEY (year, principal)
);

CREATE OR REPLACE FUNCTION weir_claude_code_active_days () RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    -- The writer's usual statement finds every pair already there and inserts none.
    IF NOT EXISTS (SELECT 1 FROM weir_ccp_new) THEN RETURN NULL; END IF;
    INSERT INTO claude_code_day_people AS c (day, people)
    SELECT n.day, count(*) FROM weir_ccp_new n GROUP BY 1 ORDER BY 1
    ON CONFLICT (day) DO UPDATE SET people = c.people + excluded.people;
    INSERT INTO claude_code_principal_years AS y (year, principal, days)
    SELECT extract(year FROM n.day)::smallint, n.principal,
      bit_or(set_bit(0::bit(366), extract(doy FROM n.day)::int - 1, 1))
    FROM weir_ccp_new n GROUP BY 1, 2 ORDER BY 1, 2
    ON CONFLICT (year, principal) DO UPDATE SET days = y.days | excluded.days;
  ELSE
    IF NOT EXISTS (SELECT 1 FROM weir_ccp_old) THEN RETURN NULL; END IF;
    INSERT INTO claude_code_day_people AS c (day, people)
    SELECT d.day, -count(*) FROM weir_ccp_old d GROUP BY 1 ORDER BY 1
    ON CONFLICT (day) DO UPDATE SET people = c.people + excluded.people;
    DELETE FROM claude_code_day_people c
    WHERE c.day IN (SELECT DISTINCT d.day FROM weir_ccp_old d) AND c.people <= 0;
    PERFORM 1 FROM claude_code_principal_years y
    WHERE (y.year, y.principal) IN (SELECT extract(year FROM d.day)::smallint, d.principal FROM weir_ccp_old d)
    ORDER BY y.year, y.principal FOR UPDATE;
    UPDATE claude_code_principal_years y SET days = y.days & ~g.bits
    FROM (SELECT extract(year FROM d.day)::smallint AS year, d.principal,
            bit_or(set_bit(0::bit(366), extract(doy FROM d.day)::int - 1, 1)) AS bits
          FROM weir_ccp_old d GROUP BY 1, 2) g
    WHERE y.year = g.year AND y.principal = g.principal;
    DELETE FROM claude_code_principal_years y
    USING (SELECT DISTINCT extract(year FROM d.day)::smallint AS year, d.principal FROM weir_ccp_old d) g
    WHERE y.year = g.year AND y.principal = g.principal AND y.days = 0::bit(366);
  END IF;
  RETURN NULL;
END $$;

DROP TRIGGER IF EXISTS claude_code_active_days_insert ON claude_code_day_principals;
CREATE TRIGGER claude_code_active_days_insert AFTER INSERT ON claude_code_day_principals
  REFERENCING NEW TABLE AS weir_ccp_new FOR EACH STATEMENT EXECUTE FUNCTION weir_claude_code_active_days();
DROP TRIGGER IF EXISTS claude_code_active_days_delete ON claude_code_day_principals;
CREATE TRIGGER claude_code_active_days_delete AFTER DELETE ON claude_code_day_principals
  REFERENCING OLD TABLE AS weir_ccp_old FOR EACH STATEMENT EXECUTE FUNCTION weir_claude_code_active_days();

INSERT INTO claude_code_day_people (day, people)
SELECT day, count(*) FROM claude_code_day_principals GROUP BY 1
ON CONFLICT DO NOTHING;
INSERT INTO claude_code_principal_years (year, principal, days)
SELECT extract(year FROM day)::smallint, principal, bit_or(set_bit(0::bit(366), extract(doy FROM day)::int - 1, 1))
FROM claude_code_day_principals GROUP BY 1, 2
ON CONFLICT DO NOTHING;
