/**
 * `availableModels` matching: does a policy's model list allow a requested model?
 *
 * The rules follow what Claude Code does with the same list on the client, so the gateway and the
 * `/model` picker agree. Entries and the requested model are trimmed, lower-cased and stripped of
 * a trailing `[1m]`-style context suffix. A model is allowed when:
 *   1. it equals an entry (a family word such as `opus` counts only while no more specific entry of
 *      that family narrows it, see below);
 *   2. an entry is a family word (`opus`, `sonnet`, `haiku`, `fable`) that appears in the model as a
 *      whole token (bounded by non-alphanumerics), unless a more specific entry of the same family
 *      exists: an entry that contains the word followed by `-` or the end, such as
 *      `claude-opus-4-8`, narrows `opus` to what it names;
 *   3. an entry that is not a family word is a prefix of the model followed by `-` or the end
 *      (`claude-opus-4` allows `claude-opus-4-8`), also trying `claude-<entry>` for an entry
 *      without the `claude-` prefix (`opus-4-8` allows `claude-opus-4-8`).
 * Aliases the CLI resolves locally (`default`, `best`, `opusplan`) never match: the gateway only
 * sees the concrete id the CLI sends. Boot warns about them (`cliOnlyAliases`).
 */

/** Family words an entry may use to allow a whole family. */
export const FAMILY_ALIASES: readonly string[] = Object.freeze(['opus', 'sonnet', 'haiku', 'fable'])

/** Aliases the CLI resolves itself; as allowlist entries they never match a request. */
export const CLI_ONLY_ALIASES: readonly string[] = Object.freeze(['default', 'best', 'opusplan'])

/** Trim, lower-case and drop a trailing `[...]` context suffix such as `[1m]`. */
export function canonicalModel (s: string): string {
  return s.trim().toLowerCase().replace(/\[[^\]]*\]$/, '')
}

const isFamily = (e: string): boolean => FAMILY_ALIASES.includes(e)

/** True when `word` occurs in `s` with no letter or digit directly before or after it. */
function wholeToken (s: string, word: string): boolean {
  for (let i = s.indexOf(word); i !== -1; i = s.indexOf(word, i + 1)) {
    const before = i === 0 || !/[a-z0-9]/.test(s[i - 1] as string)
    const end = i + word.length
    const after = end === s.length || !/[a-z0-9]/.test(s[end] as string)
    if (before && after) return true
  }
  return false
}

/** `prefix` is `s`, or a prefix of `s` followed by `-`. */
const dashPrefix = (s: string, prefix: string): boolean =>
  s.startsWith(prefix) && (s.length === prefix.length || s[prefix.length] === '-')

/** Some non-family entry contains `alias` followed by `-` or its end (it narrows the family). */
function narrowed (alias: string, entries: readonly string[]): boolean {
  return entries.some(e => {
    if (isFamily(e)) return false
    for (let i = e.indexOf(alias); i !== -1; i = e.indexOf(alias, i + 1)) {
      const end = i + alias.length
      if (end === e.length || e[end] === '-') return true
    }
    return false
  })
}

/** A compiled allowlist: `allows(model)` answers the question above. */
export class ModelAllowlist {
  private readonly entries: readonly string[]
  private readonly families: readonly string[]

  constructor (readonly raw: readonly string[]) {
    const canon = raw.map(canonicalModel).filter(e => e !== '' && !CLI_ONLY_ALIASES.includes(e))
    this.entries = canon
    this.families = canon.filter(e => isFamily(e) && !narrowed(e, canon))
  }

  allows (model: string): boolean {
    const m = canonicalModel(model)
    if (m === '') return false
    if (this.entries.includes(m) && (!isFamily(m) || this.families.includes(m))) return true
    for (const f of this.families) if (wholeToken(m, f)) return true
    for (const e of this.entries) {
      if (isFamily(e)) continue
      if (dashPrefix(m, e)) return true
      if (!e.startsWith('claude-') && dashPrefix(m, `claude-${e}`)) return true
    }
    return false
  }
}

/** Entries that are CLI-resolved aliases, as written (for the boot warning). */
export function cliOnlyAliases (entries: readonly string[]): string[] {
  return entries.filter(e => CLI_ONLY_ALIASES.includes(canonicalModel(e)))
}

/** A client-sent value for a JSON audit field: printable ASCII, at most 128 characters (error messages use echo()). */
export function displayModel (model: string): string {
  const printable = model.replace(/[^\x20-\x7e]/g, '')
  return printable.length > 128 ? `${printable.slice(0, 128)}...` : printable
}
