/**
 * Validation of one managed-settings document (a policy's `cli` / `settings` / `code` block, or
 * the `managed.settings` file) against the Claude Code settings schema SchemaStore publishes,
 * vendored in vendor/claude-code-settings/, plus the keys Claude Code 2.1.332 accepts that the
 * vendored schema lacks (reference-settings.ts).
 *
 * A settings document that the reference gateway accepts must boot on Weir, so only what is
 * certainly wrong is a problem (refused at boot): a known key of the wrong shape, `mcpServers`
 * (managed settings cannot carry it; Claude Desktop deployments use `managedMcpServers`), and a
 * `__proto__` key anywhere (the client's checksum cannot represent it). What is merely odd is a
 * warning, and the value is delivered unchanged:
 *   - a top-level key neither list knows (usually a typo, or a setting newer than this build);
 *   - an `env` name outside ^[A-Z_][A-Z0-9_]*$ (lower-case `http_proxy` / `no_proxy` are real);
 *     its value is still checked to be a string.
 */
import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { ROOT } from '../version.js'
import { type SchemaIssue, type SchemaNode, SchemaValidator } from './json-schema.js'
import { REFERENCE_SETTING_KEYS, REFERENCE_SETTING_TYPES } from './reference-settings.js'

/** Where the vendored schema lives, relative to the package root. */
export const SETTINGS_SCHEMA_FILE = resolve(ROOT, 'vendor', 'claude-code-settings', 'claude-code-settings.json')

/** Env names the vendored schema allows; others are warned about, not refused. */
const ENV_NAME = /^[A-Z_][A-Z0-9_]*$/

interface Loaded { validator: SchemaValidator, keys: ReadonlySet<string>, vendored: ReadonlySet<string> }
let loaded: Loaded | undefined

function schema (): Loaded {
  if (loaded === undefined) {
    const root = JSON.parse(readFileSync(SETTINGS_SCHEMA_FILE, 'utf8')) as Exclude<SchemaNode, boolean>
    const props = root.properties as Record<string, unknown>
    const vendored = new Set(Object.keys(props))
    // the reference-only keys whose shape Weir knows join the schema; env names are checked here
    const env = props.env as Record<string, unknown> | undefined
    const { propertyNames: _names, ...envNode } = env ?? {}
    const merged = { ...root, properties: { ...props, ...REFERENCE_SETTING_TYPES, ...(env !== undefined ? { env: envNode } : {}) } }
    loaded = { validator: new SchemaValidator(merged), keys: new Set([...vendored, ...REFERENCE_SETTING_KEYS]), vendored }
  }
  return loaded
}

/**
 * The top-level keys Weir knows: the vendored schema's and the reference-only ones. A test seam:
 * only tests list the keys (against the reference docs); `checkSettings` is the public path.
 */
export function knownSettingKeys (): ReadonlySet<string> {
  return schema().keys
}

/** The top-level keys the vendored schema itself lists. A test seam, like `knownSettingKeys`. */
export function vendoredSettingKeys (): ReadonlySet<string> {
  return schema().vendored
}

function protoKeys (v: unknown, path: ReadonlyArray<string | number>, out: SchemaIssue[]): void {
  if (Array.isArray(v)) { v.forEach((x, i) => { protoKeys(x, [...path, i], out) }); return }
  if (typeof v !== 'object' || v === null) return
  for (const k of Object.keys(v)) {
    if (k === '__proto__') out.push({ path: [...path, k], message: 'is not allowed as a key in managed settings' })
    else protoKeys((v as Record<string, unknown>)[k], [...path, k], out)
  }
}

/** What is wrong with a settings document (refused) and what is odd (warned); paths relative to it. */
export interface SettingsCheck {
  readonly problems: SchemaIssue[]
  readonly warnings: SchemaIssue[]
}

/**
 * Check a settings document. Empty `problems` means it is valid. Unknown top-level keys are
 * warned about once each and not validated further.
 */
export function checkSettings (doc: Readonly<Record<string, unknown>>): SettingsCheck {
  const { validator, keys } = schema()
  const problems: SchemaIssue[] = []
  const warnings: SchemaIssue[] = []
  const known: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(doc)) {
    if (k === 'mcpServers') {
      problems.push({ path: [k], message: 'MCP servers cannot be delivered through gateway managed settings; Claude Desktop deployments can use managedMcpServers (http/sse servers only)' })
    } else if (!keys.has(k)) {
      warnings.push({ path: [k], message: 'is not a Claude Code setting Weir knows, so it is delivered unchecked: check the spelling, or, if the setting is newer than this build of Weir, upgrade Weir' })
    } else {
      known[k] = v
    }
  }
  const env = known.env
  if (env !== null && typeof env === 'object' && !Array.isArray(env)) {
    for (const name of Object.keys(env)) {
      if (name !== '__proto__' && !ENV_NAME.test(name)) {
        warnings.push({ path: ['env', name], message: 'is not an upper-case environment variable name (A-Z, 0-9, _); it is delivered as written, so check that the program reading it expects this spelling' })
      }
    }
  }
  problems.push(...validator.validate(known))
  protoKeys(doc, [], problems)
  return { problems, warnings }
}
