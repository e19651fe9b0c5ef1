-- The groups each principal carried on a given UTC day ('YYYY-MM-DD'), so pooled spend and
-- group caps can be attributed to the membership that was current when the spend happened.
CREATE TABLE IF NOT EXISTS principal_groups (
  day       text NOT NULL,
  principal text NOT NULL,
  groups    jsonb NOT NULL,
  PRIMARY KEY (day, principal)
);
