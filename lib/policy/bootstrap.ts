/**
 * The Claude Desktop configuration served at `GET /user/bootstrap` (protocol.md §11): where to
 * send inference, which models to offer, the OTLP relay when telemetry is pushed, restrictions
 * derived from the Claude Code settings, and the policy's own `desktop` overlay on top.
 *
 * Field order: inferenceProvider, inferenceGatewayBaseUrl, inferenceCredentialKind,
 * [inferenceGatewayManagedClaudeCode], [otlpEndpoint, otlpProtocol, otlpResourceAttributes],
 * [inferenceModels], [disabledBuiltinTools], [coworkEgressAllowedHosts], overlay keys, expiresAt.
 */
import type { Config } from '../config/schema.js'
import type { ListedModel } from '../proxy/routing.js'
import type { Principal } from '../session/token.js'
import type { CompiledPolicy } from './compile.js'
import { unionLists } from './merge.js'
import { telemetryPushed } from './sources.js'

const stringList = (v: unknown): string[] | undefined =>
  Array.isArray(v) && v.every(x => typeof x === 'string') ? v as string[] : undefined

function dig (o: unknown, path: readonly string[]): unknown {
  let cur = o
  for (const k of path) cur = typeof cur === 'object' && cur !== null ? (cur as Record<string, unknown>)[k] : undefined
  return cur
}

const UNSAFE_LABEL = /[^\x21-\x7e]|[,;=\\"%]/
const fitsLabel = (v: string): boolean => encodeURIComponent(v).length <= 255

/** OTLP resource attributes Desktop stamps on its telemetry, naming the signed-in user. */
export function resourceAttributes (p: Principal, configured: Readonly<Record<string, string>> | undefined): Record<string, string> {
  const out: Record<string, string> = { ...configured, 'enduser.id': p.email ?? p.sub }
  if (p.email !== undefined) out['user.email'] = p.email
  const groups = p.groups.join(',')
  if (groups !== '' && !p.groups.some(g => g.includes(',') || g.includes('=')) && fitsLabel(groups)) out['user.groups'] = groups
  if (!UNSAFE_LABEL.test(p.sub) && fitsLabel(p.sub)) out['enduser.sub'] = p.sub
  return out
}

/** `http/json` when the settings ask Claude Code for OTLP over JSON, else `http/protobuf`. */
function otlpProtocol (settings: Readonly<Record<string, unknown>>): string {
  const env = dig(settings, ['env'])
  const keys = ['OTEL_EXPORTER_OTLP_PROTOCOL', 'OTEL_EXPORTER_OTLP_METRICS_PROTOCOL', 'OTEL_EXPORTER_OTLP_LOGS_PROTOCOL', 'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL']
  return keys.some(k => dig(env, [k]) === 'http/json') ? 'http/json' : 'http/protobuf'
}

/** The bootstrap document for `p` under policy `m` (which must carry a desktop overlay). */
export function bootstrapBody (c: Readonly<Config>, m: CompiledPolicy, p: Principal, base: string, models: readonly ListedModel[], nowMs = Date.now()): Record<string, unknown> {
  const s = m.settings
  const overlay = m.desktop ?? {}
  const fromDeny = (stringList(dig(s, ['permissions', 'deny'])) ?? []).filter(r => !r.includes('(') && !r.startsWith('mcp__'))
  const tools = unionLists(fromDeny.length > 0 ? fromDeny : undefined, overlay.disabledBuiltinTools) as string[] | undefined
  const egress = stringList(dig(s, ['sandbox', 'network', 'allowedDomains']))
  const offered = models.filter(x => m.allows(x.id)).map(x => ({ name: x.id, ...(x.display_name !== x.id ? { labelOverride: x.display_name } : {}) }))
  return {
    inferenceProvider: 'gateway',
    inferenceGatewayBaseUrl: base,
    inferenceCredentialKind: 'interactive',
    ...(m.underCode && m.servesDesktopSessions ? { inferenceGatewayManagedClaudeCode: true } : {}),
    ...(telemetryPushed(c) ? { otlpEndpoint: base, otlpProtocol: otlpProtocol(s), otlpResourceAttributes: resourceAttributes(p, c.telemetry.resource_attributes) } : {}),
    ...(offered.length > 0 ? { inferenceModels: offered } : {}),
    ...(fromDeny.length > 0 ? { disabledBuiltinTools: fromDeny } : {}),
    ...(egress !== undefined && egress.length > 0 ? { coworkEgressAllowedHosts: egress } : {}),
    ...overlay,
    ...(tools !== undefined ? { disabledBuiltinTools: tools } : {}),
    expiresAt: Math.floor(nowMs / 1000) + Math.round(c.session.ttl_hours * 3600),
  }
}
