-- Last-seen identity of each principal (the OIDC subject): email, display name and groups.
-- Personal data: removed after admin.identity_retention_days without an update.
CREATE TABLE IF NOT EXISTS principal_emails (
  principal  text PRIMARY KEY,
  email      text,
  name       text,
  groups     jsonb,
  updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX IF NOT EXISTS principal_emails_updated_at ON principal_emails (updated_at);
