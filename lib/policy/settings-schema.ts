/**
 * Validation of one managed-settings document (a policy's `cli` / `settings` / `code` block, or
 * the `managed.settings` file) against the Claude Code settings schema SchemaStore publishes,
 * vendored in vendor/claude-code-settings/.
 *
 * The schema itself accepts any top-level key; Weir is stricter, as a gateway that pushes settings
 * to every developer should be: a top-level key the schema does not list is refused (usually a
 * typo, or a setting newer than the vendored schema), and so is `mcpServers`, which managed
 * settings cannot carry (Claude Desktop deployments use `managedMcpServers`). A `__proto__` key
 * anywhere is refused too: the client's checksum cannot represent it.
 */
import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { ROOT } from '../version.js'
import { type SchemaIssue, type SchemaNode, SchemaValidator } from './json-schema.js'

/** Where the vendored schema lives, relative to the package root. */
export const SETTINGS_SCHEMA_FILE = resolve(ROOT, 'vendor', 'claude-code-settings', 'claude-code-settings.json')

let loaded: { validator: SchemaValidator, keys: ReadonlySet<string> } | undefined

function schema (): { validator: SchemaValidator, keys: ReadonlySet<string> } {
  if (loaded === undefined) {
    const root = JSON.parse(readFileSync(SETTINGS_SCHEMA_FILE, 'utf8')) as Exclude<SchemaNode, boolean>
    const props = root.properties as Record<string, unknown>
    loaded = { validator: new SchemaValidator(root), keys: new Set(Object.keys(props)) }
  }
  return loaded
}

/** The top-level keys the vendored schema knows. */
export function knownSettingKeys (): ReadonlySet<string> {
  return schema().keys
}

function protoKeys (v: unknown, path: ReadonlyArray<string | number>, out: SchemaIssue[]): void {
  if (Array.isArray(v)) { v.forEach((x, i) => { protoKeys(x, [...path, i], out) }); return }
  if (typeof v !== 'object' || v === null) return
  for (const k of Object.keys(v)) {
    if (k === '__proto__') out.push({ path: [...path, k], message: 'is not allowed as a key in managed settings' })
    else protoKeys((v as Record<string, unknown>)[k], [...path, k], out)
  }
}

/**
 * Problems with a settings document, paths relative to it. An empty list means it is valid.
 * Unknown top-level keys are reported once each and not validated further.
 */
export function checkSettings (doc: Readonly<Record<string, unknown>>): SchemaIssue[] {
  const { validator, keys } = schema()
  const out: SchemaIssue[] = []
  const known: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(doc)) {
    if (k === 'mcpServers') {
      out.push({ path: [k], message: 'MCP servers cannot be delivered through gateway managed settings; Claude Desktop deployments can use managedMcpServers (http/sse servers only)' })
    } else if (!keys.has(k)) {
      out.push({ path: [k], message: 'is not a Claude Code setting Weir knows: check the spelling, or, if the setting is newer than the settings schema Weir ships (vendor/claude-code-settings), upgrade Weir' })
    } else {
      known[k] = v
    }
  }
  out.push(...validator.validate(known))
  protoKeys(doc, [], out)
  return out
}
