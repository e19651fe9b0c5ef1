-- Pooled group budgets: a monthly amount shared by all members of an rbac_group, on top of the
-- per-seat caps. Only monthly group rows may carry one, and enabling it requires an amount.
ALTER TABLE spend_limits ADD COLUMN IF NOT EXISTS pooled_limit_enabled boolean NOT NULL DEFAULT false;
ALTER TABLE spend_limits ADD COLUMN IF NOT EXISTS pooled_monthly_credit_limit bigint;

-- Postgres has no ADD CONSTRAINT IF NOT EXISTS; look the names up so a database that already has
-- them (created by another tool with the same schema) is left as it is.
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_constraint
                 WHERE conrelid = 'spend_limits'::regclass AND conname = 'spend_limits_pooled_amount_requires_group') THEN
    ALTER TABLE spend_limits ADD CONSTRAINT spend_limits_pooled_amount_requires_group
      CHECK (pooled_monthly_credit_limit IS NULL OR (scope_type = 'rbac_group' AND period = 'monthly'));
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_constraint
                 WHERE conrelid = 'spend_limits'::regclass AND conname = 'spend_limits_pooled_requires_limit') THEN
    ALTER TABLE spend_limits ADD CONSTRAINT spend_limits_pooled_requires_limit
      CHECK (NOT pooled_limit_enabled OR pooled_monthly_credit_limit IS NOT NULL);
  END IF;
END
$$;

-- Spend drawn against a group's pool, per group and monthly bucket ('YYYY-MM').
CREATE TABLE IF NOT EXISTS pooled_spend (
  rbac_group_id text NOT NULL,
  period        text NOT NULL,
  cents         double precision NOT NULL DEFAULT 0,
  updated_at    timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (rbac_group_id, period)
);
