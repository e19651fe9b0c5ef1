-- Sign-out (RFC 7009 revocation) that every replica honours, part 1: session tokens.
--
-- session_revocations: access tokens that were signed out (token_id = Weir's token id, a hash of
-- the token), or, with token_id null, every token of `sub` issued before `not_before` (unix
-- seconds). Rows matter until expires_at, when the tokens they name would have expired anyway.
-- Each change NOTIFYs weir_session_revocations so replicas refresh their in-memory list at once.
CREATE TABLE IF NOT EXISTS session_revocations (
  seq        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  token_id   text UNIQUE,
  sub        text,
  not_before bigint,
  expires_at timestamptz NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT session_revocations_target CHECK (token_id IS NOT NULL OR (sub IS NOT NULL AND not_before IS NOT NULL))
);

CREATE INDEX IF NOT EXISTS session_revocations_expires_at ON session_revocations (expires_at);

CREATE OR REPLACE FUNCTION weir_notify_session_revocations() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('weir_session_revocations', '');
  RETURN NULL;
END
$$;

DROP TRIGGER IF EXISTS session_revocations_notify ON session_revocations;
CREATE TRIGGER session_revocations_notify
  AFTER INSERT OR UPDATE ON session_revocations
  FOR EACH STATEMENT EXECUTE FUNCTION weir_notify_session_revocations();
