/**
 * Turning the checked policies into what requests use: who each policy matches, the exact bytes
 * `/managed/settings` serves for it (settings, checksum, ETag), its Desktop overlay and its model
 * allowlist. Done once per worker at start; nothing here runs per request except `Matcher.test`
 * and `CompiledPolicy.allows` (which caches its answers).
 *
 * Order of operations for each policy (config.md §10.2, §10.4):
 *   1. layer its settings and Desktop overlay onto the catch-all's (merge.ts);
 *   2. add the telemetry variables to `env` when telemetry is pushed (the policy's own `env`
 *      wins on a clash);
 *   3. checksum the result (checksum.ts) and pre-render the response body.
 */
import type { Config, MatchConfig } from '../config/schema.js'
import type { Principal } from '../session/token.js'
import { settingsChecksum } from './checksum.js'
import { type Settings, mergeDesktop, mergeSettings } from './merge.js'
import { ModelAllowlist } from './models.js'
import { type RawPolicy, isCatchAll, telemetryPushed } from './sources.js'
import { BoundedCache } from '../cache.js'

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i
const MAX_MODEL_CACHE = 1024

/** Who a policy applies to. Every condition present must hold; none present matches everyone. */
export class Matcher {
  private readonly groups: ReadonlySet<string> | null
  private readonly guids: ReadonlySet<string>
  private readonly domain: string | null
  private readonly emails: ReadonlySet<string> | null

  constructor (m: MatchConfig) {
    this.groups = m.groups === undefined ? null : new Set(m.groups)
    // Entra ID sends group object ids; compare those without regard to case.
    this.guids = new Set((m.groups ?? []).filter(g => GUID.test(g)).map(g => g.toLowerCase()))
    this.domain = m.email_domain ?? null
    this.emails = m.emails === undefined ? null : new Set(m.emails)
  }

  test (p: Pick<Principal, 'groups' | 'email'>): boolean {
    if (this.groups !== null) {
      const groups = this.groups
      const guids = this.guids
      if (!p.groups.some(g => groups.has(g) || (guids.size > 0 && guids.has(g.toLowerCase())))) return false
    }
    if (this.domain !== null || this.emails !== null) {
      const email = (p.email ?? '').trim().toLowerCase()
      if (this.domain !== null) {
        const at = email.lastIndexOf('@')
        if (at < 0 || email.slice(at + 1) !== this.domain) return false
      }
      if (this.emails !== null && !this.emails.has(email)) return false
    }
    return true
  }
}

/** The environment variables that point clients' OpenTelemetry exporters at this gateway. */
export function telemetryEnv (c: Readonly<Config>): Record<string, string> | null {
  if (!telemetryPushed(c)) return null
  const dest = c.telemetry.forward_to
  const exporter = (signal: 'metrics' | 'logs' | 'traces'): string => dest.some(d => d[signal]) ? 'otlp' : 'none'
  const attrs = Object.entries(c.telemetry.resource_attributes ?? {})
  return {
    CLAUDE_CODE_ENABLE_TELEMETRY: '1',
    OTEL_METRICS_EXPORTER: exporter('metrics'),
    OTEL_LOGS_EXPORTER: exporter('logs'),
    OTEL_TRACES_EXPORTER: exporter('traces'),
    OTEL_EXPORTER_OTLP_ENDPOINT: c.listen.public_url as string,
    OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf',
    ...(attrs.length > 0 ? { OTEL_RESOURCE_ATTRIBUTES: attrs.map(([k, v]) => `${k}=${v}`).join(',') } : {}),
  }
}

/** A policy ready to serve. */
export class CompiledPolicy {
  /** The settings document served (merged, telemetry added). */
  readonly settings: Readonly<Settings>
  readonly checksum: string
  /** `"<checksum>"`, the ETag. */
  readonly etag: string
  /** The `/managed/settings` response body. */
  readonly body: string
  /** Model allowlist; null when the settings set no `availableModels`. */
  readonly allowlist: ModelAllowlist | null
  private readonly modelCache = new BoundedCache<string, boolean>(MAX_MODEL_CACHE)

  constructor (
    /** Index of the policy in `managed.policies` (0 for the other sources). */
    readonly index: number,
    /** With `policy_mode: layered`, every policy that was layered, most specific first. */
    readonly indexes: readonly number[] | undefined,
    merged: Readonly<Settings>,
    telemetry: Readonly<Record<string, string>> | null,
    /** Settings came from a `code` block: Claude Desktop's Code tab takes them too. */
    readonly underCode: boolean,
    /** The merged Claude Desktop overlay; undefined when this policy is not opted into Desktop. */
    readonly desktop: Readonly<Settings> | undefined,
    readonly serveToDesktop: boolean | undefined,
  ) {
    const env = merged.env
    const withEnv = telemetry === null ? merged : { ...merged, env: { ...telemetry, ...(typeof env === 'object' && env !== null && !Array.isArray(env) ? env : {}) } }
    this.settings = withEnv
    this.checksum = settingsChecksum(withEnv)
    this.etag = `"${this.checksum}"`
    this.body = JSON.stringify({ uuid: this.checksum, checksum: this.checksum, settings: withEnv })
    this.servesDesktopSessions = underCode ? Object.keys(merged).length > 0 : serveToDesktop === true && Object.keys(withEnv).length > 0
    const list = withEnv.availableModels
    this.allowlist = Array.isArray(list) ? new ModelAllowlist(list.filter((x): x is string => typeof x === 'string')) : null
  }

  /**
   * Settings reach Claude Desktop sessions (the Code tab) only from a `code` block that sets
   * something, or from a `cli` block whose policy says `serve_to_desktop: true` (when there is
   * anything to serve, telemetry variables included).
   */
  readonly servesDesktopSessions: boolean

  /** Whether `model` passes this policy's `availableModels` (always true without one). Cached. */
  allows (model: string): boolean {
    if (this.allowlist === null) return true
    let ok = this.modelCache.get(model)
    if (ok === undefined) {
      ok = this.allowlist.allows(model)
      this.modelCache.set(model, ok)
    }
    return ok
  }
}

/** The compiled policy list plus what layered mode needs to combine policies later. */
export interface CompiledSet {
  readonly matchers: readonly Matcher[]
  /** One per policy: the policy merged onto the catch-all. */
  readonly policies: readonly CompiledPolicy[]
  /** Index of the catch-all policy, or -1. */
  readonly catchAll: number
  readonly layered: boolean
  /** Combine several matching policies (layered mode); indexes most specific first. */
  combine: (indexes: readonly number[]) => CompiledPolicy
}

function layer (base: RawPolicy, over: RawPolicy): { settings: Settings, desktop: Settings | undefined, serveToDesktop: boolean | undefined } {
  return {
    settings: mergeSettings(base.settings, over.settings),
    desktop: mergeDesktop(base.desktop, over.desktop),
    serveToDesktop: over.serveToDesktop ?? base.serveToDesktop,
  }
}

/** Compile the policies read by `readPolicies`. */
export function compilePolicies (raw: readonly RawPolicy[], layered: boolean, c: Readonly<Config>): CompiledSet {
  const telemetry = telemetryEnv(c)
  const catchAll = raw.findIndex(p => isCatchAll(p.match))
  const base = catchAll >= 0 ? raw[catchAll] : undefined
  const policies = raw.map(p => {
    const l = base === undefined || p === base ? { settings: p.settings, desktop: p.desktop, serveToDesktop: p.serveToDesktop } : layer(base, p)
    return new CompiledPolicy(p.index, undefined, l.settings, telemetry, p.underCode, l.desktop, l.serveToDesktop)
  })
  const combined = new BoundedCache<string, CompiledPolicy>(1024)
  const combine = (indexes: readonly number[]): CompiledPolicy => {
    const key = indexes.join(',')
    let hit = combined.get(key)
    if (hit === undefined) {
      // fold from the least specific layer (last) to the most specific (first)
      const layers = indexes.map(i => raw[i] as RawPolicy)
      let acc: RawPolicy = layers[layers.length - 1] as RawPolicy
      for (let i = layers.length - 2; i >= 0; i--) {
        const top = layers[i] as RawPolicy
        acc = { ...top, ...layer(acc, top) }
      }
      const first = layers[0] as RawPolicy
      hit = new CompiledPolicy(first.index, indexes, acc.settings, telemetry, first.underCode, acc.desktop, acc.serveToDesktop)
      combined.set(key, hit)
    }
    return hit
  }
  return { matchers: raw.map(p => new Matcher(p.match)), policies, catchAll, layered, combine }
}
