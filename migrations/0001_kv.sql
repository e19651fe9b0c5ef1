-- Short-lived key/value rows shared by every replica: device-flow grants, user codes and
-- fixed-window rate-limit counters. A null expires_at means the row never expires.
CREATE TABLE IF NOT EXISTS kv (
  key        text PRIMARY KEY,
  value      text NOT NULL,
  expires_at timestamptz
);

-- The 30-second expiry sweep only looks at rows that can expire.
CREATE INDEX IF NOT EXISTS kv_expires_at ON kv (expires_at) WHERE expires_at IS NOT NULL;
