/**
 * The gateway.yaml schema: the single source of truth for what Weir's configuration may contain.
 *
 * It accepts every key the reference gateway 2.1.328 accepts, with the same meaning, plus the keys
 * marked `// Weir extension`. Every object is strict (`object()`), so an unknown key anywhere is an
 * error. Defaults sit next to their fields, with units. Numbers are coerced from numeric strings
 * (so `${PORT}` works); booleans are not.
 *
 * The sections live in `schema/*.ts`; this file assembles them, adds the rules that span sections,
 * and holds `NOT_SUPPORTED_YET`: the keys Weir accepts in the schema but does not act on yet.
 *
 * Superstruct runs a refinement only when nothing below it failed a type check, and it hands the
 * refinement the uncoerced value of any child that failed only a refinement. The cross-section
 * rules below therefore read the config defensively.
 */
import { type Infer, object, optional, refine } from 'superstruct'
import { type Issue, def, isObj, issuesAt, list, bool, str, section } from './schema/kit.js'
import { OidcSchema } from './schema/oidc.js'
import {
  AdminSchema, CriSchema, EnforcementSchema, LoadTestModeSchema, LoginNoticeSchema, ManagedSchema, ModelSchema, PricingSchema,
  TelemetrySchema,
} from './schema/policy.js'
import {
  AccessControlSchema, LimitsSchema, ListenSchema, RateLimitsSchema, SessionSchema, StoreSchema, TimeoutsSchema,
} from './schema/server.js'
import { UpstreamPoolsSchema, poolIssues } from './schema/pools.js'
import { UpstreamsSchema } from './schema/upstreams.js'

/**
 * Keys Weir accepts in the schema but does not implement yet. A key listed here that is PRESENT in
 * the file is refused at boot with "<path>: not supported yet" (defaults never trigger it, and a
 * value that merely restates a default is still refused: presence is what counts).
 *
 * Syntax: a dotted key path; `*` matches any list index or mapping key. A final `key=value` refuses
 * only that value of the key (used for providers); `key=*` refuses any value. Refusing a key also
 * silences schema errors inside it; with `=`, inside the whole object holding the key (so a refused
 * provider or auth shape is not also picked apart). To implement a feature, delete its entry.
 */
export const NOT_SUPPORTED_YET: readonly string[] = Object.freeze([])

const RootObject = object({
  /** Editor schema hint; accepted and ignored. */
  $schema: optional(str()),
  listen: ListenSchema,
  /**
   * The identity provider. Required, except in a deployment that only serves customer-routed
   * inference (`cri.enabled`), where nobody signs in through the gateway.
   */
  oidc: optional(OidcSchema),
  session: SessionSchema,
  store: StoreSchema,
  upstreams: UpstreamsSchema,
  /** Weir extension: groups of upstreams that share load by session (schema/pools.ts). Default none: ordered failover. */
  upstream_pools: optional(UpstreamPoolsSchema), // Weir extension
  /** Advertise and serve every built-in Claude model. Default true. */
  auto_include_builtin_models: def(bool(), true),
  /** Extra or remapped models. Default none. */
  models: def(list(ModelSchema), () => []),
  login_notice: optional(LoginNoticeSchema),
  managed: optional(ManagedSchema),
  telemetry: section(TelemetrySchema),
  /** Spend limits and the admin API; off when absent. */
  admin: optional(AdminSchema),
  enforcement: section(EnforcementSchema),
  pricing: optional(PricingSchema),
  access_control: section(AccessControlSchema),
  limits: section(LimitsSchema),
  timeouts: section(TimeoutsSchema),
  rate_limits: section(RateLimitsSchema),
  load_test_mode: optional(LoadTestModeSchema),
  cri: optional(CriSchema),
})

type Root = Infer<typeof RootObject>

const arr = (v: unknown): unknown[] => Array.isArray(v) ? v : []

/** Rules that span sections. */
function crossIssues (c: Root): Issue[] {
  const issues: Issue[] = []
  const names = new Set(arr(c.upstreams).map(u => isObj(u) ? (u.name ?? u.provider) : undefined))
  if (c.enforcement?.fail_closed_on_error === true && c.admin === undefined) {
    issues.push({ path: ['enforcement', 'fail_closed_on_error'], message: 'has no effect without an admin block: spend enforcement only runs when admin is configured' })
  }
  arr(c.models).forEach((m, i) => {
    if (!isObj(m) || !isObj(m.upstream_model)) return
    for (const k of Object.keys(m.upstream_model)) {
      if (!names.has(k)) issues.push({ path: ['models', i, 'upstream_model', k], message: `references unknown upstream '${k}'` })
    }
  })
  const policies = c.managed?.policies
  const hasManaged = policies !== undefined ? policies.length > 0 : c.managed?.settings !== undefined && c.managed.settings !== ''
  if (c.pricing !== undefined && c.admin === undefined && !hasManaged) {
    issues.push({ path: ['pricing'], message: 'has no effect without an admin block or a managed block with at least one policy' })
  }
  const rows = arr(c.pricing?.overrides).filter(isObj)
  rows.forEach((r, i) => {
    if (typeof r.upstream !== 'string' || typeof r.model !== 'string') return
    if (!names.has(r.upstream)) issues.push({ path: ['pricing', 'overrides', i, 'upstream'], message: `references unknown upstream '${r.upstream}'` })
    const model = r.model.toLowerCase()
    const first = rows.slice(0, i).find(o => o.upstream === r.upstream && String(o.model).toLowerCase() === model)
    if (first !== undefined) issues.push({ path: ['pricing', 'overrides', i], message: `duplicates the pricing override for '${String(first.model)}' on upstream '${r.upstream}'` })
  })
  issues.push(...poolIssues(c.upstream_pools, c.upstreams))
  if (c.oidc === undefined && c.cri?.enabled !== true) {
    issues.push({ path: ['oidc'], message: 'missing required key (only a gateway with cri.enabled: true may leave out sign-in)' })
  }
  if (c.cri?.enabled === true) {
    if (arr(c.cri.audience).length === 0) issues.push({ path: ['cri', 'audience'], message: 'must list at least one audience when cri.enabled is true' })
    if (arr(c.cri.org_allowlist).length === 0) issues.push({ path: ['cri', 'org_allowlist'], message: 'must list at least one organization UUID when cri.enabled is true' })
  }
  return issues
}

/** The whole gateway.yaml. Validate with `validate(value, ConfigSchema, { coerce: true })` (see load.ts). */
export const ConfigSchema = refine(RootObject, 'config', (v, ctx) => issuesAt(ctx, crossIssues(v)))

/** The resolved configuration (post-expansion, post-default). */
export type Config = Infer<typeof ConfigSchema>

export type { ListenConfig, SessionConfig, StoreConfig, AccessControlConfig, LimitsConfig, TimeoutsConfig, RateLimitsConfig } from './schema/server.js'
export type { OidcConfig } from './schema/oidc.js'
export type { PoolConfig } from './schema/pools.js'
export type {
  UpstreamConfig, AnthropicUpstream, BedrockUpstream, MantleUpstream, AnthropicAwsUpstream, AnthropicGoogleCloudUpstream,
  VertexUpstream, FoundryUpstream, MockUpstream, Provider,
} from './schema/upstreams.js'
export type {
  ModelConfig, MatchConfig, PolicyConfig, ManagedConfig, TelemetryConfig, AdminConfig, EnforcementConfig, PricingConfig,
  CriConfig, LoadTestModeConfig,
} from './schema/policy.js'
export type { JsonValue, JsonObject } from './schema/kit.js'
export {
  ListenSchema, SessionSchema, StoreSchema, AccessControlSchema, LimitsSchema, TimeoutsSchema, RateLimitsSchema,
} from './schema/server.js'
export { OidcSchema } from './schema/oidc.js'
export { UpstreamSchema, UpstreamsSchema, PROVIDERS } from './schema/upstreams.js'
export {
  ModelSchema, ManagedSchema, TelemetrySchema, AdminSchema, EnforcementSchema, PricingSchema, CriSchema,
} from './schema/policy.js'
