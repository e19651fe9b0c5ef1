-- Metered spend per principal and period bucket. period is the bucket key: 'YYYY-MM-DD' (daily),
-- 'YYYY-Www' (ISO week) or 'YYYY-MM' (monthly). cents may be fractional.
CREATE TABLE IF NOT EXISTS spend (
  principal  text NOT NULL,
  period     text NOT NULL,
  cents      double precision NOT NULL DEFAULT 0,
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (principal, period)
);

-- Retention deletes rows by age.
CREATE INDEX IF NOT EXISTS spend_updated_at ON spend (updated_at);
