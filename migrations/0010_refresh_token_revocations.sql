-- Sign-out (RFC 7009 revocation), part 2: IdP refresh tokens a client signed out with, stored as
-- SHA-256 (hex) and refused by the token endpoint's refresh grant until expires_at, whether or not
-- the identity provider could revoke them itself.
CREATE TABLE IF NOT EXISTS refresh_token_revocations (
  token_hash text PRIMARY KEY,
  expires_at timestamptz NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX IF NOT EXISTS refresh_token_revocations_expires_at ON refresh_token_revocations (expires_at);
