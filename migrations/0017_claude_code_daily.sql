-- Claude Code analytics per UTC day and developer, summed from the OTLP metrics Claude Code sends
-- through Weir (`/v1/metrics`) under the identity of the verified bearer — whether or not a
-- collector is configured — and read by `GET /v1/organizations/usage_report/claude_code`
-- (lib/reports/claude-code.ts). Written by the primary in batches (lib/telemetry/analytics.ts).
--
--   metric  the Claude Code metric without its `claude_code.` prefix: session.count,
--           lines_of_code.count, commit.count, pull_request.count, code_edit_tool.decision,
--           token.usage, cost.usage
--   k1, k2  the attributes the report splits by ('' when none): lines_of_code.count type;
--           code_edit_tool.decision tool_name and decision; token.usage type and model;
--           cost.usage '' and model
--   value   the sum (cost.usage in USD, as the client reported it)
--
-- Swept with the spend ledger (admin.spend_retention_months, by day); erasing a developer
-- deletes their rows by principal (docs/operations.md).
CREATE TABLE IF NOT EXISTS claude_code_daily (
  day        date NOT NULL,
  principal  text NOT NULL,
  metric     text NOT NULL,
  k1         text NOT NULL DEFAULT '',
  k2         text NOT NULL DEFAULT '',
  value      numeric NOT NULL DEFAULT 0,
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (day, principal, metric, k1, k2)
);

CREATE INDEX IF NOT EXISTS claude_code_daily_principal ON claude_code_daily (principal);
