-- Spend alerts before the wall (lib/spend/alerts.ts).
--
-- spend_alerts: one row per (subject, period bucket, threshold) whose spend crossed the threshold.
-- kind 'u' is a principal measured against its own (per-seat) cap; kind 'g' is a pooled group
-- budget, measured once for the whole group. The primary key is what makes an alert happen once
-- per period: every replica that sees the crossing tries to insert it, and only the insert that
-- wins sends the audit event, counts the metric and queues webhook deliveries (in its own
-- transaction). threshold_bp is the threshold in basis points (7500 = 75%).
CREATE TABLE IF NOT EXISTS spend_alerts (
  kind        text NOT NULL CHECK (kind IN ('u', 'g')),
  subject     text NOT NULL,
  period      text NOT NULL,
  threshold_bp integer NOT NULL CHECK (threshold_bp > 0 AND threshold_bp <= 10000),
  cap_id      text NOT NULL,
  cap_scope   text NOT NULL,
  cap_cents   bigint NOT NULL,
  spent_micro_cents bigint NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (kind, subject, period, threshold_bp)
);

CREATE INDEX IF NOT EXISTS spend_alerts_created_at ON spend_alerts (created_at);

-- Webhook deliveries of alerts (an outbox, written in the alert's transaction). A delivery is
-- claimed by pushing next_at forward and counting the attempt (so only one replica sends it at a
-- time), then marked 'delivered', or retried with backoff; after admin.alerts.max_attempts it
-- stays as 'dead' with last_error holding the dead-letter record (JSON) an operator can inspect
-- and requeue (set state = 'pending', attempts = 0).
CREATE TABLE IF NOT EXISTS alert_deliveries (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  webhook     text NOT NULL,
  payload     jsonb NOT NULL,
  state       text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'dead')),
  attempts    integer NOT NULL DEFAULT 0,
  next_at     timestamptz NOT NULL DEFAULT now(),
  last_error  text,
  created_at  timestamptz NOT NULL DEFAULT now(),
  done_at     timestamptz
);

CREATE INDEX IF NOT EXISTS alert_deliveries_due ON alert_deliveries (next_at) WHERE state = 'pending';
CREATE INDEX IF NOT EXISTS alert_deliveries_created_at ON alert_deliveries (created_at);
