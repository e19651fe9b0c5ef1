/**
 * Where the policies come from, and everything about them that can be wrong at boot.
 *
 * The `managed` section yields the policy list (config.md §10.1):
 *   - `managed.policies` when present;
 *   - else `managed.settings`, a JSON file used as one catch-all policy (a missing file is an
 *     empty policy; anything but a JSON object is an error);
 *   - else, when telemetry settings are pushed, one empty catch-all (so clients still get them);
 *   - else nothing: `/managed/settings` has no policy for anyone.
 *
 * Each policy's settings block (`code`, else `cli`, else the legacy `settings`) is checked against
 * the Claude Code settings schema; its `desktop` overlay against the few rules Weir knows for it.
 * Problems carry the key path inside gateway.yaml so the loader can point at the line.
 */
import { readFileSync } from 'node:fs'
import type { Config, MatchConfig } from '../config/schema.js'
import type { Path } from '../config/locate.js'
import { cliOnlyAliases } from './models.js'
import type { Settings } from './merge.js'
import { checkSettings } from './settings-schema.js'

/** One policy as written, before the base-layer merge. */
export interface RawPolicy {
  readonly index: number
  readonly match: MatchConfig
  /** Which key the settings came from (`file` for `managed.settings`; `none` when absent). */
  readonly key: 'code' | 'cli' | 'settings' | 'file' | 'none'
  readonly settings: Readonly<Settings>
  /** True when the settings are under `code` (also served to Claude Desktop's Code tab). */
  readonly underCode: boolean
  readonly desktop: Readonly<Settings> | undefined
  readonly serveToDesktop: boolean | undefined
}

/** A problem or warning anchored at a gateway.yaml key path. */
export interface PolicyProblem {
  readonly path: Path
  readonly message: string
}

export interface PolicySources {
  /** The policies, in order; null when nothing is configured. */
  readonly policies: readonly RawPolicy[] | null
  readonly layered: boolean
  readonly problems: readonly PolicyProblem[]
  readonly warnings: readonly PolicyProblem[]
}

/** True for a `match` with no condition: the catch-all base layer. */
export const isCatchAll = (m: MatchConfig): boolean =>
  m.groups === undefined && m.email_domain === undefined && m.emails === undefined

/** Overlay keys the gateway computes itself in /user/bootstrap; an operator may not set them. */
const COMPUTED_DESKTOP_KEYS = [
  'inferenceProvider', 'inferenceGatewayBaseUrl', 'inferenceCredentialKind', 'inferenceModels',
  'inferenceGatewayManagedClaudeCode', 'otlpEndpoint', 'otlpProtocol', 'otlpResourceAttributes', 'expiresAt',
]

/** Settings that limit every hook, so under `policy_mode: layered` only the catch-all may set them. */
const LAYERED_CATCH_ALL_ONLY = ['disableAllHooks', 'allowedHttpHookUrls', 'httpHookAllowedEnvVars', 'allowManagedHooksOnly']

const isRecord = (v: unknown): v is Settings => typeof v === 'object' && v !== null && !Array.isArray(v)

function checkDesktop (d: Readonly<Settings>, at: Path, out: PolicyProblem[]): void {
  for (const k of Object.keys(d)) {
    if (COMPUTED_DESKTOP_KEYS.includes(k)) out.push({ path: [...at, k], message: 'is computed by the gateway for each user; remove it from the desktop block' })
    if (k === 'mcpServers') out.push({ path: [...at, k], message: 'is not a Claude Desktop setting; use managedMcpServers' })
  }
  for (const k of ['disabledBuiltinTools', 'coworkEgressAllowedHosts']) {
    const v = d[k]
    if (v !== undefined && !(Array.isArray(v) && v.every(x => typeof x === 'string' && x !== ''))) {
      out.push({ path: [...at, k], message: 'must be a list of non-empty strings' })
    }
  }
}

function modelWarnings (s: Readonly<Settings>, at: Path, out: PolicyProblem[]): void {
  const list = s.availableModels
  if (!Array.isArray(list)) return
  if (list.length === 0) {
    out.push({ path: [...at, 'availableModels'], message: 'is an empty list, so every model request from this policy\'s users is refused; list the models they may use' })
    return
  }
  const aliases = cliOnlyAliases(list.filter((x): x is string => typeof x === 'string'))
  if (aliases.length > 0) {
    out.push({
      path: [...at, 'availableModels'],
      message: `${aliases.map(a => `'${a}'`).join(', ')} ${aliases.length === 1 ? 'is an alias' : 'are aliases'} Claude Code resolves itself, so the gateway never sees ${aliases.length === 1 ? 'it' : 'them'} in a request and ${aliases.length === 1 ? 'it allows' : 'they allow'} nothing; list model ids or the family words opus, sonnet, haiku, fable`,
    })
  }
}

function readSettingsFile (file: string, out: PolicyProblem[], warnings: PolicyProblem[]): Settings {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'ENOENT') return {}
    out.push({ path: ['managed', 'settings'], message: `cannot read ${file} (${code ?? 'read failed'})` })
    return {}
  }
  let doc: unknown
  try {
    doc = JSON.parse(text)
  } catch (err) {
    out.push({ path: ['managed', 'settings'], message: `${file} is not valid JSON: ${(err as Error).message}` })
    return {}
  }
  if (!isRecord(doc)) {
    out.push({ path: ['managed', 'settings'], message: `${file} must hold a JSON object of Claude Code settings` })
    return {}
  }
  const checked = checkSettings(doc)
  const inFile = (i: { path: ReadonlyArray<string | number>, message: string }): PolicyProblem =>
    ({ path: ['managed', 'settings'], message: `in ${file}: ${i.path.length > 0 ? `${i.path.join('.')}: ` : ''}${i.message}` })
  out.push(...checked.problems.map(inFile))
  warnings.push(...checked.warnings.map(inFile))
  return doc
}

/** Telemetry settings are pushed to clients (so an empty catch-all policy exists). */
export function telemetryPushed (c: Readonly<Config>): boolean {
  return c.telemetry.forward_to.length > 0 && c.listen.public_url !== undefined
}

/** Read and check the policies of a validated config. Reads `managed.settings` when used. */
export function readPolicies (c: Readonly<Config>): PolicySources {
  const problems: PolicyProblem[] = []
  const warnings: PolicyProblem[] = []
  const m = c.managed
  const layered = m?.policy_mode === 'layered'
  let policies: RawPolicy[] | null = null
  if (m?.policies !== undefined) {
    policies = m.policies.map((p, index) => {
      const key = p.code !== undefined ? 'code' : p.cli !== undefined ? 'cli' : p.settings !== undefined ? 'settings' : 'none'
      const settings = (key === 'none' ? {} : p[key] ?? {}) as Settings
      const at: Path = ['managed', 'policies', index, key]
      if (key === 'cli' && p.settings !== undefined) {
        warnings.push({ path: ['managed', 'policies', index, 'settings'], message: 'is ignored because this policy also has cli (settings is the older name of cli); keep one' })
      }
      if (key !== 'none') {
        const checked = checkSettings(settings)
        for (const i of checked.problems) problems.push({ path: [...at, ...i.path], message: i.message })
        for (const i of checked.warnings) warnings.push({ path: [...at, ...i.path], message: i.message })
        modelWarnings(settings, at, warnings)
      }
      if (p.desktop !== undefined) checkDesktop(p.desktop, ['managed', 'policies', index, 'desktop'], problems)
      if (layered) {
        if (settings.policyHelper !== undefined) {
          problems.push({ path: [...at, 'policyHelper'], message: 'cannot be used with policy_mode: layered: a policy helper\'s output replaces or extends the served settings, so it could drop another matching policy\'s rules' })
        }
        if (!isCatchAll(p.match)) {
          for (const k of LAYERED_CATCH_ALL_ONLY) {
            if (settings[k] !== undefined) problems.push({ path: [...at, k], message: 'limits every hook a user gets, so with policy_mode: layered it may only be set in the match: {} policy' })
          }
        }
      }
      if (p.serve_to_desktop === false && key === 'code') {
        warnings.push({ path: ['managed', 'policies', index, 'serve_to_desktop'], message: 'has no effect on a policy whose settings are under code: they always reach Claude Desktop\'s Code tab' })
      }
      return { index, match: p.match, key, settings, underCode: key === 'code', desktop: p.desktop, serveToDesktop: p.serve_to_desktop }
    })
    if (policies.length > 0 && !policies.some(p => p.desktop !== undefined)) {
      warnings.push({ path: ['managed', 'policies'], message: 'no policy has a desktop: block, so Claude Desktop is refused at /user/bootstrap; add desktop: {} to the policies whose users may use it' })
    }
  } else if (m?.settings !== undefined && m.settings !== '') {
    const settings = readSettingsFile(m.settings, problems, warnings)
    modelWarnings(settings, ['managed', 'settings'], warnings)
    policies = [{ index: 0, match: {}, key: 'file', settings, underCode: false, desktop: undefined, serveToDesktop: undefined }]
  } else if (telemetryPushed(c)) {
    policies = [{ index: 0, match: {}, key: 'none', settings: {}, underCode: false, desktop: undefined, serveToDesktop: undefined }]
  }
  return { policies, layered, problems, warnings }
}
