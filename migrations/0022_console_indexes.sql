-- The console's people page (lib/console/primary.ts) lists developers most recently seen first,
-- paged by last_seen: without this index every page sorts the whole principals table. (The
-- overview's per-period spend sums already have spend_period_micro_cents, migration 0011.)
CREATE INDEX IF NOT EXISTS principals_seen ON principals (last_seen DESC, principal);
