/**
 * The managed-settings checksum, computed exactly as Claude Code computes the value it sends in
 * `If-None-Match` and `x-claude-code-managed-settings-checksum`:
 *
 *   "sha256:" + hex SHA-256 of JSON.stringify(settings with the keys of every object sorted)
 *
 * Keys are sorted with the default string order (UTF-16 code units) and copied into a fresh
 * object one by one, then serialised with JSON.stringify, so unicode, escaping and the ordering
 * quirks of plain objects (integer-like keys first) come out byte-identical to the client's.
 */
import { createHash } from 'node:crypto'

/** A copy of `v` whose objects have their keys inserted in sorted order, at every depth. */
export function sortKeysDeep (v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeysDeep)
  if (v !== null && typeof v === 'object') {
    const out: Record<string, unknown> = {}
    for (const k of Object.keys(v).sort()) out[k] = sortKeysDeep((v as Record<string, unknown>)[k])
    return out
  }
  return v
}

/** The canonical serialisation hashed by the checksum. */
export function canonicalJson (v: unknown): string {
  return JSON.stringify(sortKeysDeep(v)) ?? 'null'
}

/** `sha256:<hex>` of the canonical serialisation of a settings document. */
export function settingsChecksum (settings: unknown): string {
  return `sha256:${createHash('sha256').update(canonicalJson(settings), 'utf8').digest('hex')}`
}
