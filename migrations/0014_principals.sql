-- Every principal (OIDC subject) Weir has seen: at sign-in, at token refresh, or on a metered
-- request. It holds only the pseudonymous subject and when it was first and last seen (no personal
-- data, unlike principal_emails), and no sweep removes it, so the admin API can refuse a user cap
-- whose user_id matches nobody Weir has ever seen (a typo, or an email where the IdP subject
-- belongs) unless the caller forces it. Filled from the tables that already name principals.
CREATE TABLE IF NOT EXISTS principals (
  principal  text PRIMARY KEY,
  first_seen timestamptz NOT NULL DEFAULT now(),
  last_seen  timestamptz NOT NULL DEFAULT now()
);

INSERT INTO principals (principal, first_seen, last_seen)
SELECT principal, min(at), max(at) FROM (
  SELECT principal, updated_at AS at FROM principal_emails
  UNION ALL SELECT principal, updated_at FROM spend
  UNION ALL SELECT principal, now() FROM principal_groups
) seen GROUP BY principal
ON CONFLICT (principal) DO NOTHING;

-- The subject of each session family (one sign-in and its refreshes; lib/session/store.ts), so
-- signing a person out everywhere can end the refresh grant of every sign-in they hold. Rows go
-- when the family's refresh tokens would no longer be honoured anyway.
CREATE TABLE IF NOT EXISTS session_families (
  family     text PRIMARY KEY,
  sub        text NOT NULL,
  expires_at timestamptz NOT NULL
);

CREATE INDEX IF NOT EXISTS session_families_sub ON session_families (sub);
CREATE INDEX IF NOT EXISTS session_families_expires_at ON session_families (expires_at);

-- Metered spend per model (the model the client asked for) and period bucket, for the admin spend
-- report (`weir admin spend --by model`). Written in the same ledger transaction as `spend`, swept
-- with it (admin.spend_retention_months).
CREATE TABLE IF NOT EXISTS spend_by_model (
  model       text NOT NULL,
  period      text NOT NULL,
  micro_cents bigint NOT NULL DEFAULT 0,
  updated_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (model, period)
);

CREATE INDEX IF NOT EXISTS spend_by_model_updated_at ON spend_by_model (updated_at);
