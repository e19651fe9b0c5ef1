/**
 * The built-in model catalog: Claude models Weir knows by family, with the id each provider uses.
 *
 * A requested model string is recognised in any of its spellings — first-party (`claude-opus-4-6`),
 * dated (`claude-haiku-4-5-20251001`), Bedrock (`us.anthropic.claude-…-v1:0`, with any geo prefix),
 * Vertex (`claude-…@20251001`) — and mapped to one family, which also keys pricing. `null` means the
 * provider does not offer the model. Ids for the newest families follow the providers' published
 * patterns; operators can always override them per upstream with `models[].upstream_model`.
 */

export interface CatalogEntry {
  /** Stable family key, e.g. `sonnet46`. */
  readonly key: string
  readonly displayName: string
  /** First-party (Anthropic API) id; also what `/v1/models` lists. */
  readonly firstParty: string
  /** Other first-party spellings that mean the same model (e.g. the undated alias). */
  readonly aliases: readonly string[]
  readonly bedrock: string | null
  readonly vertex: string | null
  readonly foundry: string | null
  /** Claude Platform on AWS: the dated first-party id. */
  readonly anthropicAws: string | null
  /** Claude Platform on Google Cloud: the dated first-party id, newer families only. */
  readonly anthropicGoogleCloud: string | null
  /** Bedrock Mantle (`anthropic.claude-…`), newer families only. */
  readonly mantle: string | null
  /** Listed on `/v1/models` when `auto_include_builtin_models` is on. */
  readonly advertised: boolean
}

/** Families Claude Platform on Google Cloud does not serve. */
const NOT_ON_GOOGLE_CLOUD = new Set(['haiku35', 'sonnet37', 'sonnet4', 'opus4', 'opus41'])
/** Mantle ids, for the families Mantle serves. */
const MANTLE: Record<string, string> = {
  haiku45: 'anthropic.claude-haiku-4-5',
  sonnet5: 'anthropic.claude-sonnet-5',
  opus47: 'anthropic.claude-opus-4-7',
  opus48: 'anthropic.claude-opus-4-8',
  opus5: 'anthropic.claude-opus-5',
  fable5: 'anthropic.claude-fable-5',
  haiku55: 'anthropic.claude-haiku-5-5',
  sonnet55: 'anthropic.claude-sonnet-5-5',
  opus55: 'anthropic.claude-opus-5-5',
  fable51: 'anthropic.claude-fable-5-1',
  fable52: 'anthropic.claude-fable-5-2',
}

const e = (key: string, displayName: string, firstParty: string, aliases: string[], bedrock: string | null, vertex: string | null, foundry: string | null, advertised = true): CatalogEntry =>
  Object.freeze({
    key,
    displayName,
    firstParty,
    aliases: Object.freeze(aliases),
    bedrock,
    vertex,
    foundry,
    anthropicAws: firstParty,
    anthropicGoogleCloud: NOT_ON_GOOGLE_CLOUD.has(key) ? null : firstParty,
    mantle: MANTLE[key] ?? null,
    advertised,
  })

/**
 * Not-advertised families first, then the advertised ones in reverse `/v1/models` order: the list
 * shows them last entry first, which gives the reference 2.1.332's order (Opus 4.6, Sonnet 5.5,
 * Haiku 4.5, then the rest newest first). Keep that when adding a family.
 */
export const CATALOG: readonly CatalogEntry[] = Object.freeze([
  e('haiku35', 'Claude Haiku 3.5', 'claude-3-5-haiku-20241022', ['claude-3-5-haiku-latest', 'claude-3-5-haiku'], 'us.anthropic.claude-3-5-haiku-20241022-v1:0', 'claude-3-5-haiku@20241022', null, false),
  e('sonnet37', 'Claude Sonnet 3.7', 'claude-3-7-sonnet-20250219', ['claude-3-7-sonnet-latest', 'claude-3-7-sonnet'], 'us.anthropic.claude-3-7-sonnet-20250219-v1:0', 'claude-3-7-sonnet@20250219', null, false),
  e('sonnet4', 'Claude Sonnet 4', 'claude-sonnet-4-20250514', ['claude-sonnet-4-0', 'claude-sonnet-4'], 'us.anthropic.claude-sonnet-4-20250514-v1:0', 'claude-sonnet-4@20250514', null, false),
  e('opus4', 'Claude Opus 4', 'claude-opus-4-20250514', ['claude-opus-4-0', 'claude-opus-4'], 'us.anthropic.claude-opus-4-20250514-v1:0', 'claude-opus-4@20250514', null, false),
  e('opus45', 'Claude Opus 4.5', 'claude-opus-4-5-20251101', ['claude-opus-4-5'], 'us.anthropic.claude-opus-4-5-20251101-v1:0', 'claude-opus-4-5@20251101', 'claude-opus-4-5', false),
  e('haiku55', 'Claude Haiku 5.5', 'claude-haiku-5-5', [], 'us.anthropic.claude-haiku-5-5', 'claude-haiku-5-5', 'claude-haiku-5-5'),
  e('sonnet45', 'Claude Sonnet 4.5', 'claude-sonnet-4-5-20250929', ['claude-sonnet-4-5'], 'us.anthropic.claude-sonnet-4-5-20250929-v1:0', 'claude-sonnet-4-5@20250929', 'claude-sonnet-4-5'),
  e('sonnet46', 'Claude Sonnet 4.6', 'claude-sonnet-4-6', [], 'us.anthropic.claude-sonnet-4-6', 'claude-sonnet-4-6', 'claude-sonnet-4-6'),
  e('sonnet5', 'Claude Sonnet 5', 'claude-sonnet-5', [], 'us.anthropic.claude-sonnet-5', 'claude-sonnet-5', 'claude-sonnet-5'),
  e('opus41', 'Claude Opus 4.1', 'claude-opus-4-1-20250805', ['claude-opus-4-1'], 'us.anthropic.claude-opus-4-1-20250805-v1:0', 'claude-opus-4-1@20250805', 'claude-opus-4-1'),
  e('opus47', 'Claude Opus 4.7', 'claude-opus-4-7', [], 'us.anthropic.claude-opus-4-7', 'claude-opus-4-7', 'claude-opus-4-7'),
  e('opus48', 'Claude Opus 4.8', 'claude-opus-4-8', [], 'us.anthropic.claude-opus-4-8', 'claude-opus-4-8', 'claude-opus-4-8'),
  e('opus5', 'Claude Opus 5', 'claude-opus-5', [], 'us.anthropic.claude-opus-5', 'claude-opus-5', 'claude-opus-5'),
  e('opus55', 'Claude Opus 5.5', 'claude-opus-5-5', [], 'us.anthropic.claude-opus-5-5', 'claude-opus-5-5', 'claude-opus-5-5'),
  e('fable5', 'Claude Fable 5', 'claude-fable-5', [], 'us.anthropic.claude-fable-5', 'claude-fable-5', 'claude-fable-5'),
  e('fable51', 'Claude Fable 5.1', 'claude-fable-5-1', [], 'us.anthropic.claude-fable-5-1', 'claude-fable-5-1', 'claude-fable-5-1'),
  e('fable52', 'Claude Fable 5.2', 'claude-fable-5-2', [], 'us.anthropic.claude-fable-5-2', 'claude-fable-5-2', 'claude-fable-5-2'),
  e('haiku45', 'Claude Haiku 4.5', 'claude-haiku-4-5-20251001', ['claude-haiku-4-5'], 'us.anthropic.claude-haiku-4-5-20251001-v1:0', 'claude-haiku-4-5@20251001', 'claude-haiku-4-5'),
  e('sonnet55', 'Claude Sonnet 5.5', 'claude-sonnet-5-5', [], 'us.anthropic.claude-sonnet-5-5', 'claude-sonnet-5-5', 'claude-sonnet-5-5'),
  e('opus46', 'Claude Opus 4.6', 'claude-opus-4-6', [], 'us.anthropic.claude-opus-4-6-v1', 'claude-opus-4-6', 'claude-opus-4-6'),
])

const BY_NAME = new Map<string, CatalogEntry>()
for (const c of CATALOG) {
  for (const n of [c.firstParty, ...c.aliases, c.bedrock, c.vertex, c.foundry, c.mantle]) {
    if (n !== null) BY_NAME.set(n.toLowerCase(), c)
  }
}

/** Lower-case, drop a client-side `[1m]`-style suffix and surrounding whitespace. */
export function normaliseModel (model: string): string {
  return model.trim().toLowerCase().replace(/\[[^\]]*\]$/, '')
}

/** The catalog entry a model string names, in any provider's spelling; null when unknown. */
export function lookupModel (model: string): CatalogEntry | null {
  const m = normaliseModel(model)
  const direct = BY_NAME.get(m)
  if (direct !== undefined) return direct
  // strip a Bedrock geo/inference-profile prefix, the `anthropic.` vendor prefix, a `-vN[:M]`
  // version suffix, and turn a Vertex `@date` into `-date`
  let s = m.replace(/^arn:aws:bedrock:[^:]*:[^:]*:(?:inference-profile|foundation-model)\//, '')
  s = s.replace(/^(?:us|eu|apac|global|jp|au|ca|us-gov)\./, '').replace(/^anthropic\./, '').replace(/-v\d+(?::\d+)?$/, '').replace('@', '-')
  return BY_NAME.get(s) ?? null
}

/** The id `provider` uses for `entry`, or null when that provider does not offer it. */
export function providerModelId (entry: CatalogEntry, provider: string): string | null {
  switch (provider) {
    case 'bedrock': return entry.bedrock
    case 'vertex': return entry.vertex
    case 'foundry': return entry.foundry
    case 'anthropicAws': return entry.anthropicAws
    case 'anthropicGoogleCloud': return entry.anthropicGoogleCloud
    case 'mantle': return entry.mantle
    default: return entry.firstParty
  }
}

/** True when `model` is one of `entry`'s first-party spellings (so it can be sent as is). */
export function isFirstPartySpelling (entry: CatalogEntry, model: string): boolean {
  const m = normaliseModel(model)
  return m === entry.firstParty || entry.aliases.includes(m)
}
