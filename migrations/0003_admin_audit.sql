-- Trail of every change made through the admin API, kept for admin.audit_retention_days.
CREATE TABLE IF NOT EXISTS admin_audit (
  id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  at     timestamptz NOT NULL DEFAULT now(),
  actor  text NOT NULL,
  action text NOT NULL,
  target text NOT NULL,
  before jsonb,
  after  jsonb,
  reason text
);

CREATE INDEX IF NOT EXISTS admin_audit_at ON admin_audit (at);
