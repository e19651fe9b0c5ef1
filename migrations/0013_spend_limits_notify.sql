-- Every change to spend_limits (admin API upsert or delete, or an operator's own SQL) notifies
-- weir_spend_limits, so every replica reloads its caps and pushes them to its workers at once.
CREATE OR REPLACE FUNCTION weir_notify_spend_limits() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('weir_spend_limits', '');
  RETURN NULL;
END
$$;

DROP TRIGGER IF EXISTS spend_limits_notify ON spend_limits;
CREATE TRIGGER spend_limits_notify
  AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON spend_limits
  FOR EACH STATEMENT EXECUTE FUNCTION weir_notify_spend_limits();
