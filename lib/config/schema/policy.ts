/**
 * Schema for the policy-side sections: `models`, `managed`, `telemetry`, `admin`, `enforcement`,
 * `pricing`, `cri`, `load_test_mode` and `login_notice`.
 *
 * The bodies of `managed.policies[].cli|settings|code|desktop` are free-form JSON objects here;
 * their own validation (the Claude Code settings schema) lives with the managed-settings code.
 */
import { type Infer, coerce, object, optional, refine } from 'superstruct'
import { type Issue, bool, def, issuesAt, jsonObject, list, map, matching, minStr, num, oneOf, posInt, section, str } from './kit.js'
import { httpsOrLoopback, isLoopbackUrl, loopbackAllowed, urlProblem } from './urls.js'

/** `models[]`: client-facing model ids and what to send each upstream. */
export const ModelSchema = object({
  /** Model id clients request (matched case-insensitively). */
  id: minStr(),
  /** Display name on /v1/models. Default: the id. */
  label: optional(str()),
  description: optional(str()),
  /** Upstream name → model string sent to that upstream (ARN, deployment name, …). */
  upstream_model: refine(map(str()), 'nonempty', v => Object.keys(v).length > 0 || 'must name at least one upstream'),
})

const GroupName = minStr(1, 'empty entry: set a group name or remove the entry')

/** `managed.policies[].match`: who a policy applies to. `{}` matches everyone (catch-all). */
export const MatchSchema = object({
  /** Matches when the user is in any of these groups (exact, case-sensitive). */
  groups: optional(list(GroupName, 1, 'is empty, so the policy would match no one: list groups or remove the key')),
  /** Matches one email domain (normalised: trimmed, one leading @ removed, lowercased). */
  email_domain: optional(coerce(refine(str(), 'domain', v =>
    v === ''
      ? 'is empty: set a domain or remove the key'
      : !/[@\s,]/.test(v) || 'must be one bare domain (no @, whitespace or commas)'),
  str(), v => v.trim().replace(/^@/, '').toLowerCase())),
  /** Matches these exact email addresses (lowercased). */
  emails: optional(list(coerce(matching(/^[^\s@,]+@[^\s@,]+$/, 'must be an email address'), // Weir extension
    str(), v => v.trim().toLowerCase()), 1, 'is empty, so the policy would match no one: list addresses or remove the key')),
})

const PolicySchema = object({
  match: section(MatchSchema),
  /** Managed settings for Claude Code, also applied in Claude Desktop's Code tab. */
  code: optional(jsonObject()),
  /** Managed settings for Claude Code in the terminal. */
  cli: optional(jsonObject()),
  /** Older name of `cli`. */
  settings: optional(jsonObject()),
  /** Claude Desktop overlay; its presence opts the policy into /user/bootstrap. */
  desktop: optional(jsonObject()),
  serve_to_desktop: optional(bool()),
})

/** `managed`: settings delivered to clients. */
export const ManagedSchema = object({
  /** Path of a JSON settings file used as a single catch-all when `policies` is absent. */
  settings: optional(str()),
  /** First matching policy only, or layer every match. Default first_match. */
  policy_mode: optional(oneOf(['first_match', 'layered'] as const)),
  policies: optional(refine(list(PolicySchema), 'code_vs_cli', (v, ctx) => {
    if (!v.some(p => p.code !== undefined)) return true
    const issues: Issue[] = []
    v.forEach((p, i) => {
      for (const k of ['cli', 'settings'] as const) {
        if (p[k] !== undefined) issues.push({ path: [i, k], message: `this file uses \`code\` blocks, so put this policy's \`${k}\` settings under \`code\` too (or use \`cli\` everywhere)` })
      }
    })
    return issuesAt(ctx, issues)
  })),
})

const OtlpUrl = refine(str(), 'url', v => {
  if (!httpsOrLoopback(v)) return 'must be https:// (http:// only for loopback)'
  return urlProblem(v, 'env') ?? true
})

const RESERVED_LABELS = new Set(['service.name', 'service.version', 'claude.deployment_mode', 'host.arch', 'os.type', 'os.version', 'wsl.version'])
const RESERVED_LABEL_PREFIXES = ['enduser.', 'user.', 'identity.']

function labelProblem (k: string, v: string): string | undefined {
  if (!/^[A-Za-z0-9._-]{1,255}$/.test(k)) return `label name '${k}' may use only letters, digits, '.', '_' and '-' (255 at most)`
  const lower = k.toLowerCase()
  if (RESERVED_LABELS.has(lower) || RESERVED_LABEL_PREFIXES.some(p => lower.startsWith(p))) return `label '${k}' is reserved; use another name`
  if (v === '' || /[^\x21-\x7e]|[,;=\\"%]/.test(v)) return `label '${k}' needs a non-empty printable-ASCII value without spaces or , ; = \\ " %`
  if (encodeURIComponent(v).length > 255) return `label '${k}' has too long a value (255 characters once percent-encoded)`
  return undefined
}

const Destination = refine(object({
  /** Collector base URL; /v1/metrics|logs|traces is appended. */
  url: OtlpUrl,
  /** Headers added to every relayed request. Default none. */
  headers: def(map(str()), () => ({})),
  /** Authenticate with a Google access token (Google Cloud telemetry only). */
  auth: optional(object({ google: object({ service_account_json: optional(minStr()) }) })),
  /** Relay metrics. Default true. */
  metrics: def(bool(), true),
  /** Relay logs. Default false. */
  logs: def(bool(), false),
  /** Relay traces. Default false. */
  traces: def(bool(), false),
}), 'google_auth', (v, ctx) => {
  if (v.auth === undefined) return true
  const issues: string[] = []
  try {
    const u = new URL(v.url)
    const host = u.hostname.replace(/\.$/, '')
    if (u.protocol !== 'https:') issues.push('auth.google needs an https:// url so the access token is never sent in clear')
    if (!(host === 'googleapis.com' || (host.endsWith('.googleapis.com') && !host.split('.').includes('')))) {
      issues.push(`auth.google sends a Google access token, so url must be a googleapis.com host (got ${host})`)
    }
  } catch { /* the url refinement reports it */ }
  if (Object.keys(v.headers ?? {}).some(h => h.toLowerCase() === 'authorization')) {
    issues.push('auth.google sets the Authorization header itself: remove Authorization from headers, or remove auth')
  }
  return issuesAt(ctx, issues.map(message => ({ path: ['auth', 'google'], message })))
})

/** `telemetry.gateway_metrics`: where Weir's own metrics go. Weir extension. */
export const GatewayMetricsSchema = object({
  /** Push over OTLP/HTTP to `<url>/v1/metrics`. */
  otlp: optional(object({
    /** Collector base URL; /v1/metrics is appended. */
    url: OtlpUrl,
    /** Headers sent with every export. Default none. */
    headers: def(map(str()), () => ({})),
    /** Seconds between exports, 1-3600. Default 60 s. */
    interval_seconds: def(num({ min: 1, max: 3600 }), 60),
  })),
  /** Serve Prometheus text at `GET /metrics` on a port of its own. */
  prometheus: optional(object({
    /** TCP port (0 = any free port). Must differ from listen.port. */
    port: num({ int: true, min: 0, max: 65535 }),
    /** Interface to bind. Default: listen.host. */
    host: optional(minStr()),
  })),
})

/** `telemetry`: OTLP relay to the operator's collectors. */
export const TelemetrySchema = object({
  /** Collectors to relay client telemetry to. Default none. */
  forward_to: def(list(Destination), () => []),
  /** OTEL resource attributes pushed to clients. */
  resource_attributes: optional(refine(map(str()), 'labels', (v, ctx) => issuesAt(ctx,
    Object.entries(v).flatMap(([k, val]) => { const m = labelProblem(k, val); return m === undefined ? [] : [{ path: [k], message: m }] })))),
  /** Weir's own metrics (requests, latency, tokens, spend, queues). Off when absent. */
  gateway_metrics: optional(GatewayMetricsSchema), // Weir extension
})

const AdminKey = object({ id: str(), key: minStr(32) })

const WebhookUrl = refine(str(), 'url', v => {
  if (!httpsOrLoopback(v)) return 'must be https:// (http:// only for loopback)'
  return urlProblem(v, 'env') ?? true
})

/** `admin.alerts` (Weir extension): spend thresholds and where alerts go. */
export const AlertsSchema = object({
  /** Fractions of a cap (0 < t ≤ 1) whose crossing alerts, once per period. Default 0.75 and 0.95. */
  thresholds: def(refine(list(num({ gt: 0, max: 1 }), 1), 'thresholds', v =>
    new Set(v).size === v.length || 'lists a threshold more than once'), () => [0.75, 0.95]),
  /** Receivers of each alert: generic JSON, or Slack- / Teams-compatible message bodies. */
  webhooks: def(refine(list(object({
    /** The webhook's name in logs and delivery rows (unique). Default: its URL. */
    name: optional(minStr(1)),
    url: WebhookUrl,
    format: def(oneOf(['json', 'slack', 'teams'] as const), 'json'),
    /** Extra request headers (e.g. an authorization token). */
    headers: def(map(str()), () => ({})),
  })), 'webhooks', v => {
    const names = v.map(w => w.name ?? w.url)
    return new Set(names).size === names.length || 'two webhooks share a name (or, unnamed, a URL): give each a distinct name'
  }), () => []),
  /** Delivery attempts before an alert is kept as dead. Default 8. */
  max_attempts: def(posInt(50), 8),
})

/** `admin`: its presence switches on spend limits and the admin API. */
export const AdminSchema = refine(object({
  /** GET-only API keys. Default none. */
  read_keys: def(list(AdminKey), () => []),
  /** Full-access API keys. Default none. */
  write_keys: def(list(AdminKey), () => []),
  /** IdP groups with full admin access. Default none. */
  admin_groups: def(list(minStr(1, 'empty entry: set a group name or remove the entry')), () => []),
  /**
   * IdP groups whose members may open the operator console (/console) read-only: they see every
   * page, and every change is refused by the server (Weir extension). Default none.
   */
  read_only_groups: def(list(minStr(1, 'empty entry: set a group name or remove the entry')), () => []),
  /** Appended to the spend-limit 429 message. */
  blocked_message: optional(str()),
  /** Audit log retention in days. Default 365 days. */
  audit_retention_days: def(posInt(), 365),
  /** Spend history retention in months. Default 13 months. */
  spend_retention_months: def(posInt(), 13),
  /** Identity record retention in days. Default 90 days. */
  identity_retention_days: def(posInt(), 90),
  /** How pooled group budgets resolve a user in several pools. */
  pooled_conflict_rule: optional(oneOf(['default_order', 'priority_list'] as const)),
  /** Pool order for priority_list (at most 50 groups, no repeats). */
  pooled_priority_order: optional(refine(list(minStr()), 'order', v =>
    v.length > 50 ? 'lists more than 50 groups'
      : new Set(v).size === v.length || 'lists a group more than once')),
  /** Multi-group tie-break for limits. Default min. */
  group_limit_mode: def(oneOf(['min', 'max'] as const), 'min'),
  /** Spend alerts before the wall (Weir extension). Thresholds default to 75% and 95%. */
  alerts: def(AlertsSchema, () => ({ thresholds: [0.75, 0.95], webhooks: [], max_attempts: 8 })),
  /** Request tag naming the billing group. */
  billing_group_tag: optional(matching(/^(?!anthropic)[A-Z0-9_.:/=+\-@]{1,64}$/i,
    'must be 1 to 64 ASCII letters, digits or _ . : / = + - @, not starting with "anthropic"')),
}), 'admin', (v, ctx) => {
  const issues: Issue[] = []
  const ids = [...(v.read_keys ?? []), ...(v.write_keys ?? [])].map(k => k.id)
  const dup = ids.find((id, i) => ids.indexOf(id) !== i)
  if (dup !== undefined) issues.push({ message: `admin key id '${dup}' is repeated; key ids must be unique for audit attribution` })
  if (v.pooled_conflict_rule === 'priority_list' && (v.pooled_priority_order ?? []).length === 0) {
    issues.push({ path: ['pooled_priority_order'], message: 'needs at least one group when pooled_conflict_rule is priority_list' })
  }
  return issuesAt(ctx, issues)
})

/** `enforcement`. */
export const EnforcementSchema = object({
  /** Block (429) instead of allowing when the spend store fails. Default false. */
  fail_closed_on_error: def(bool(), false),
})

const Rate = num({ gt: 0, max: 10_000 })

/** `pricing`: rates the spend meter uses. */
export const PricingSchema = object({
  /** Multiplies every metered amount, 0 < x ≤ 10. Default 1. */
  multiplier: def(num({ gt: 0, max: 10 }), 1),
  /** Per-upstream, per-model rates in USD per million tokens. Default none. */
  overrides: def(list(object({
    upstream: minStr(),
    model: minStr(),
    input: Rate,
    output: Rate,
    cache_read: Rate,
    cache_write: Rate,
  })), () => []),
})

const CriUrl = () => refine(str(), 'url', v => {
  if (!httpsOrLoopback(v)) return 'must be https:// (http:// only for loopback)'
  if (isLoopbackUrl(v)) return loopbackAllowed() || 'targets loopback but CLAUDE_GATEWAY_ALLOW_LOOPBACK is not set'
  return urlProblem(v, 'env') ?? true
})

/** `cri`: customer-routed inference (Anthropic-minted tokens instead of gateway sessions). */
export const CriSchema = object({
  /** Accept CRI tokens. Default false. */
  enabled: def(bool(), false),
  /** Accepted `aud` values. Default none. */
  audience: def(list(coerce(minStr(), str(), s => s.trim())), () => []),
  /** Loopback-only JWKS override, for tests against local mocks. */
  jwks_url: optional(refine(str(), 'url', v => !isLoopbackUrl(v)
    ? 'must be a loopback URL (it exists only for tests against local mocks)'
    : loopbackAllowed() || 'targets loopback but CLAUDE_GATEWAY_ALLOW_LOOPBACK is not set')),
  /** Token issuer; JWKS at `<issuer>/jwks.json`. Canonical, no query, fragment or trailing '/'. */
  issuer: optional(refine(CriUrl(), 'canonical', v => {
    try {
      if (new URL(v).href !== v || v.includes('?') || v.includes('#')) return 'must be a canonical URL with no query or fragment'
    } catch { return 'must be a URL' }
    return !v.endsWith('/') || "must not end with '/'"
  })),
  /** Allowed Anthropic organisation UUIDs (lowercased). Default none. */
  org_allowlist: def(list(coerce(minStr(), str(), s => s.trim().toLowerCase())), () => []),
  policy: optional(object({
    webhook: object({
      url: CriUrl(),
      /** Webhook timeout in milliseconds, ≤ 30000. Default 2000 ms. */
      timeout_ms: def(posInt(30_000), 2000),
      /** Refuse the request when the webhook fails. Default true. */
      fail_closed: def(bool(), true),
    }),
  })),
})

/** `load_test_mode`: answer from the gateway itself, for load tests. */
export const LoadTestModeSchema = object({
  enabled: bool(),
  /** Tokens in each synthetic reply, 1-100000. Default 750. */
  reply_tokens: def(num({ int: true, min: 1, max: 100_000 }), 750),
  /** Seconds each synthetic reply takes, 0-600. Default 9.5 s. */
  reply_seconds: def(num({ min: 0, max: 600 }), 9.5),
})

/** `login_notice`: text shown at sign-in, trimmed, 1-500 characters. */
export const LoginNoticeSchema = coerce(refine(str(), 'length', v =>
  (v.length >= 1 && v.length <= 500) || 'must be 1 to 500 characters after trimming'), str(), s => s.trim())

export type ModelConfig = Infer<typeof ModelSchema>
export type MatchConfig = Infer<typeof MatchSchema>
export type PolicyConfig = Infer<typeof PolicySchema>
export type ManagedConfig = Infer<typeof ManagedSchema>
export type TelemetryConfig = Infer<typeof TelemetrySchema>
export type GatewayMetricsConfig = Infer<typeof GatewayMetricsSchema>
export type AdminConfig = Infer<typeof AdminSchema>
export type EnforcementConfig = Infer<typeof EnforcementSchema>
export type PricingConfig = Infer<typeof PricingSchema>
export type CriConfig = Infer<typeof CriSchema>
export type LoadTestModeConfig = Infer<typeof LoadTestModeSchema>
