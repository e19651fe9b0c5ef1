-- Spend caps managed through the admin API. One row per (scope, period); amount is in USD cents
-- and null means "explicitly unlimited" at that scope. Organization rows use scope_id = ''.
CREATE TABLE IF NOT EXISTS spend_limits (
  id         text PRIMARY KEY,
  scope_type text NOT NULL CHECK (scope_type IN ('user', 'rbac_group', 'organization')),
  scope_id   text NOT NULL DEFAULT '',
  amount     bigint,
  period     text NOT NULL DEFAULT 'monthly' CHECK (period IN ('daily', 'weekly', 'monthly')),
  currency   text NOT NULL DEFAULT 'USD' CHECK (currency = 'USD'),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  created_by text
);

CREATE UNIQUE INDEX IF NOT EXISTS spend_limits_scope ON spend_limits (scope_type, scope_id, period);
