/**
 * Managed policies: which policy applies to a signed-in developer, what settings it delivers, and
 * which models it allows. The HTTP side lives in lib/policy/routes.ts; the inference hot
 * path calls `checkModel` and `auditFields`.
 *
 * Policy selection: `managed.policies` in order, first match wins (`match.groups` any-of,
 * `match.email_domain`, `match.emails`; every condition present must hold). The first `match: {}`
 * policy is the catch-all: it matches everyone and is also the base layer every other policy is
 * merged onto (merge.ts). With `policy_mode: layered`, every matching policy is layered instead,
 * the earlier ones on top.
 */
import { BootError, EX_CONFIG, GatewayError } from '../errors.js'
import type { Config } from '../config/schema.js'
import { dotted } from '../config/locate.js'
import type { Principal } from '../session/token.js'
import { type CompiledPolicy, type CompiledSet, compilePolicies } from './compile.js'
import { displayModel } from './models.js'
import { echo } from '../proxy/echo.js'
import { type PolicyProblem, readPolicies } from './sources.js'
import { BoundedCache } from '../cache.js'

export type { CompiledPolicy } from './compile.js'
export type { PolicyProblem } from './sources.js'
export { settingsChecksum, canonicalJson } from './checksum.js'

/** The policy that applies to a principal. */
export type MatchedPolicy = CompiledPolicy

/**
 * Check the `managed` section of a schema-valid config: settings against the Claude Code settings
 * schema, Desktop overlays, layered-mode rules, the `managed.settings` file. Returns the problems
 * (each fails boot) and the warnings, anchored at gateway.yaml key paths.
 */
export function checkPolicies (c: Readonly<Config>): { problems: PolicyProblem[], warnings: PolicyProblem[] } {
  const { problems, warnings } = readPolicies(c)
  return { problems: [...problems], warnings: [...warnings] }
}

/** Headers Claude Code sends when managed settings set CLAUDE_CODE_GATEWAY_HINT_HEADERS, and their audit field names. */
const HINT_HEADERS: ReadonlyArray<readonly [string, string]> = [
  ['x-claude-code-managed-settings-checksum', 'settings_checksum'],
  ['x-claude-code-request-class', 'hint_request_class'],
  ['x-claude-1p-request-class', 'hint_1p_request_class'],
  ['x-claude-code-agent-type', 'hint_agent_type'],
  ['x-claude-code-auxiliary-type', 'hint_auxiliary_type'],
  ['x-claude-code-prompt-id', 'hint_prompt_id'],
]

/** Client entry points that identify a Claude Desktop session in Claude Code's User-Agent. */
const DESKTOP_ENTRYPOINTS = new Set(['claude-desktop', 'claude-desktop-3p', 'local-agent', 'local_agent'])
const UA = /^claude-(?:cli|code)\/\S+ \(([^)]*)\)/

/** True when the User-Agent is Claude Code running inside Claude Desktop (its Code tab). */
export function isDesktopSession (userAgent: string | undefined): boolean {
  const m = UA.exec(userAgent ?? '')
  return m !== null && (m[1] as string).split(',').some(e => DESKTOP_ENTRYPOINTS.has(e.trim()))
}

const MAX_MATCH_CACHE = 10_000

/** Compiled once per worker from the frozen config. */
export class Policies {
  /** Some policy source is configured (`/managed/settings` can answer 200 for someone). */
  readonly configured: boolean
  /** Some policy carries a `desktop` overlay (Claude Desktop may bootstrap). */
  readonly desktopConfigured: boolean
  private readonly set: CompiledSet | null
  private readonly byPrincipal = new WeakMap<Principal, CompiledPolicy | null>()
  private readonly byKey = new BoundedCache<string, CompiledPolicy | null>(MAX_MATCH_CACHE)

  constructor (set: CompiledSet | null) {
    this.set = set
    this.configured = set !== null
    this.desktopConfigured = set !== null && set.policies.some(p => p.desktop !== undefined)
  }

  /** Compile from a config. Throws BootError (EX_CONFIG) when the policies are invalid. */
  static fromConfig (c: Readonly<Config>): Policies {
    const src = readPolicies(c)
    if (src.problems.length > 0) throw new BootError(src.problems.map(p => `${dotted(p.path)}: ${p.message}`), EX_CONFIG)
    return new Policies(src.policies === null ? null : compilePolicies(src.policies, src.layered, c))
  }

  /** The matched policy for a principal (cached per principal and per distinct email + groups), or null. */
  match (p: Principal): MatchedPolicy | null {
    const set = this.set
    if (set === null) return null
    const hit = this.byPrincipal.get(p)
    if (hit !== undefined) return hit
    const key = `${p.email ?? ''}\n${p.groups.join('\n')}`
    let found = this.byKey.get(key)
    if (found === undefined) {
      found = this.select(set, p)
      this.byKey.set(key, found)
    }
    this.byPrincipal.set(p, found)
    return found
  }

  private select (set: CompiledSet, p: Principal): CompiledPolicy | null {
    const matched: number[] = []
    for (let i = 0; i < set.matchers.length; i++) {
      if (!(set.matchers[i] as CompiledSet['matchers'][number]).test(p)) continue
      matched.push(i)
      if (!set.layered || i === set.catchAll) break
    }
    if (matched.length === 0) return null
    const specific = matched.filter(i => i !== set.catchAll)
    if (set.layered && specific.length >= 2) return set.combine(matched)
    return set.policies[matched[0] as number] as CompiledPolicy
  }

  /** Whether the principal's policy allows `model` (true when no policy or no availableModels applies). */
  allows (p: Principal, model: string): boolean {
    const m = this.match(p)
    return m === null || m.allows(model)
  }

  /**
   * Refuse a model the principal's policy does not list in `availableModels`: throws
   * GatewayError('GW_MODEL_DENIED') (400 invalid_request_error), the model quoted, escaped and bounded
   * as every echo of client input is (lib/proxy/echo.ts). Returns otherwise.
   */
  checkModel (p: Principal, model: string): void {
    if (this.set === null) return
    const m = this.match(p)
    if (m === null || m.allows(model)) return
    throw new GatewayError('GW_MODEL_DENIED', `model ${echo(model)} is not in the availableModels list of your managed policy`)
  }

  /**
   * Fields for the `inference` audit line from the request headers: the managed-settings checksum
   * the client computed (`settings_checksum`) and the gateway hint headers (`hint_*`). Values are
   * reduced to printable ASCII and at most 128 characters. Null when the request carries none.
   */
  auditFields (headers: Readonly<Record<string, string>>): Record<string, string> | null {
    let out: Record<string, string> | null = null
    for (const [h, field] of HINT_HEADERS) {
      const v = headers[h]
      if (v !== undefined && v !== '') (out ??= {})[field] = displayModel(v)
    }
    return out
  }
}
