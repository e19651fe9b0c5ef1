-- Budget leases: how Weir keeps concurrent requests on several workers and replicas from running
-- past a spend cap without a database round trip per request (see lib/spend/budget.ts).
--
-- A lease is a block of one budget's remaining room, held by one HTTP worker thread (`holder`).
-- A budget is a principal's bucket (kind 'u', subject = OIDC sub, the `spend` row) or a group's
-- pooled monthly bucket (kind 'g', subject = group, the `pooled_spend` row). `epoch` names one
-- continuous tenure of the holder: a holder whose lease lapsed starts a new epoch, and metering
-- only draws down the epoch it was charged against. Amounts are micro-cents.
--
-- Invariant kept by weir_spend_lease: for every budget, spent + the unexpired leases of every
-- holder never exceed the cap when a lease is granted. Metering then moves each request's cost
-- from its holder's lease to `spent` in one transaction, which keeps the sum unchanged.
CREATE TABLE IF NOT EXISTS spend_leases (
  kind        text NOT NULL CHECK (kind IN ('u', 'g')),
  subject     text NOT NULL,
  period      text NOT NULL,
  holder      text NOT NULL,
  epoch       text NOT NULL,
  micro_cents bigint NOT NULL CHECK (micro_cents >= 0),
  expires_at  timestamptz NOT NULL,
  PRIMARY KEY (kind, subject, period, holder)
);

CREATE INDEX IF NOT EXISTS spend_leases_expires_at ON spend_leases (expires_at);

-- Take (or extend) a lease, atomically, in one statement.
--
--   p_limit_id / p_limit_cents  the cap the caller resolved; if that row no longer holds that
--                               amount (changed or deleted meanwhile) nothing is granted and
--                               `fresh` is false, so the caller reloads its caps.
--   p_need                      what the caller needs now (one request's worst case not yet
--                               covered); p_want what it would like to hold.
--   p_partial_ok                the caller has no request in flight on this budget: it may take
--                               the last, smaller-than-needed remainder, but only when no other
--                               holder holds any of the budget (so at most one request at a time
--                               can run past the cap, by at most its own settle difference).
-- The grant is never more than a quarter of the free room unless the need is larger, so leases
-- shrink as the cap nears and the last requests go one at a time. A call with p_want = p_need = 0
-- only extends the lease (a heartbeat).
CREATE OR REPLACE FUNCTION weir_spend_lease(
  p_kind text, p_subject text, p_period text, p_holder text, p_epoch text,
  p_limit_id text, p_limit_cents bigint, p_want bigint, p_need bigint, p_partial_ok boolean, p_ttl_ms integer)
RETURNS TABLE (granted bigint, spent bigint, others bigint, held bigint, free_after numeric, fresh boolean)
LANGUAGE plpgsql VOLATILE
SET lock_timeout = '2s'
AS $$
DECLARE
  v_amount bigint;
  v_spent bigint;
  v_others bigint;
  v_mine bigint;
  v_free numeric;
  v_grant bigint := 0;
  v_held bigint;
BEGIN
  IF p_kind = 'u' THEN
    SELECT l.amount INTO v_amount FROM spend_limits l WHERE l.id = p_limit_id;
  ELSE
    SELECT CASE WHEN l.pooled_limit_enabled THEN l.pooled_monthly_credit_limit END INTO v_amount
      FROM spend_limits l WHERE l.id = p_limit_id;
  END IF;
  IF NOT FOUND OR v_amount IS DISTINCT FROM p_limit_cents THEN
    RETURN QUERY SELECT 0::bigint, 0::bigint, 0::bigint, 0::bigint, 0::numeric, false;
    RETURN;
  END IF;

  -- Serialise grants on this budget. The reads below run after the lock is held, in one snapshot,
  -- so they see every earlier grant and each metering transaction entirely or not at all.
  PERFORM pg_advisory_xact_lock(hashtextextended(p_kind || ':' || p_subject || ':' || p_period, 7759));
  SELECT
    coalesce(CASE WHEN p_kind = 'u'
      THEN (SELECT s.micro_cents FROM spend s WHERE s.principal = p_subject AND s.period = p_period)
      ELSE (SELECT s.micro_cents FROM pooled_spend s WHERE s.rbac_group_id = p_subject AND s.period = p_period) END, 0),
    coalesce((SELECT sum(x.micro_cents) FROM spend_leases x
      WHERE x.kind = p_kind AND x.subject = p_subject AND x.period = p_period
        AND x.holder <> p_holder AND x.expires_at > now()), 0),
    coalesce((SELECT x.micro_cents FROM spend_leases x
      WHERE x.kind = p_kind AND x.subject = p_subject AND x.period = p_period
        AND x.holder = p_holder AND x.epoch = p_epoch AND x.expires_at > now()), 0)
  INTO v_spent, v_others, v_mine;

  v_free := p_limit_cents::numeric * 1000000 - v_spent - v_others - v_mine;
  IF v_free >= p_need THEN
    v_grant := least(v_free, greatest(p_need, least(p_want, floor(v_free / 4))));
  ELSIF p_partial_ok AND v_others = 0 AND v_free > 0 THEN
    v_grant := v_free;
  END IF;

  INSERT INTO spend_leases AS x (kind, subject, period, holder, epoch, micro_cents, expires_at)
  VALUES (p_kind, p_subject, p_period, p_holder, p_epoch, v_mine + v_grant, now() + p_ttl_ms * interval '1 millisecond')
  ON CONFLICT (kind, subject, period, holder) DO UPDATE
    SET micro_cents = CASE WHEN x.epoch = excluded.epoch AND x.expires_at > now() THEN x.micro_cents + v_grant ELSE v_grant END,
        epoch = excluded.epoch,
        expires_at = excluded.expires_at
  RETURNING x.micro_cents INTO v_held;

  RETURN QUERY SELECT v_grant, v_spent, v_others, v_held, v_free - v_grant, true;
END
$$;
