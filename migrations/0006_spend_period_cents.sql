-- Serves "top spenders in this period" listings without sorting the whole bucket.
CREATE INDEX IF NOT EXISTS spend_period_cents ON spend (period, cents DESC, principal);
