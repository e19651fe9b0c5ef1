/**
 * What a request costs, exactly.
 *
 * Amounts are integer micro-cents (1 µ¢ = 10⁻⁶ cent = 10⁻⁸ USD). Rates are turned into integers
 * of micro-dollars per million tokens once, and a request's cost is the BigInt sum of
 * tokens × rate, times `pricing.multiplier` (in parts per million), rounded half up to a whole
 * micro-cent. Every list price and every override with up to six decimals is therefore priced
 * without floating-point error, and summing request costs in the ledger never drifts. The HTTP
 * workers (to settle budget leases) and the metering pool (for the ledger) call the same function
 * with the same inputs, so they agree to the micro-cent.
 *
 * Which rates apply, first match wins (the reference's order):
 *   1. a `pricing.overrides` row for the upstream that served the request whose model is the id
 *      sent upstream, then one whose model is the id the client asked for, then one naming the
 *      same built-in family;
 *   2. the list-price table (price-table.ts) for the upstream model's family, else the client
 *      model's family (every provider spelling resolves through the model catalog);
 *   3. the unknown-model tier, with a warning once per model.
 * Overrides apply to fast-mode requests too; their one `cache_write` rate covers both cache TTLs.
 * In `load_test_mode` (`free`) every request costs 0: canned replies must never leave real spend.
 */
import { lookupModel } from '../proxy/catalog.js'
import { ops } from '../log.js'
import { PRICE_TABLE, UNKNOWN_MODEL, versionAt, type PriceVersion, type Rates } from './price-table.js'
import { BoundedCache } from '../cache.js'

/** The `pricing:` config block (or its defaults). */
export interface PricingSettings {
  readonly multiplier: number
  readonly overrides: ReadonlyArray<{ upstream: string, model: string, input: number, output: number, cache_read: number, cache_write: number }>
  /** load_test_mode: every cost is 0 (the worst-case reservation still uses list prices). */
  readonly free?: boolean
}

/** The pricing settings the meter uses for `config`: `pricing`, made free in load_test_mode. */
export function meterPricing (config: { readonly pricing?: PricingSettings | undefined, readonly load_test_mode?: { readonly enabled: boolean } | undefined }): PricingSettings | undefined {
  if (config.load_test_mode?.enabled !== true) return config.pricing
  return { multiplier: config.pricing?.multiplier ?? 1, overrides: config.pricing?.overrides ?? [], free: true }
}

/** Token counts to price. `cacheWrite` is the total; `cacheWrite1h` the part written with a 1-hour TTL. */
export interface Counts {
  input: number
  output: number
  cacheRead: number
  cacheWrite: number
  cacheWrite1h: number
  webSearch: number
  fast: boolean
}

/** How a model is priced: its versions and where they came from. */
export interface Priced {
  readonly versions: readonly PriceVersion[]
  readonly source: 'override' | 'table' | 'unknown'
}

interface IntRates { i: bigint, o: bigint, w5: bigint, w1: bigint, r: bigint, ws: bigint }

const MICRO = 1_000_000
const HALF = 5_000_000_000n
const SCALE = 10_000_000_000n

const ints = new WeakMap<Rates, IntRates>()
/** Rates as integers: micro-USD per million tokens (web search: per million requests). */
function intRates (r: Rates): IntRates {
  let x = ints.get(r)
  if (x === undefined) {
    const n = (usd: number): bigint => BigInt(Math.round(usd * MICRO))
    x = { i: n(r.input), o: n(r.output), w5: n(r.cacheWrite5m), w1: n(r.cacheWrite1h), r: n(r.cacheRead), ws: n(r.webSearch) * 1_000_000n }
    ints.set(r, x)
  }
  return x
}

const big = (n: number): bigint => BigInt(Math.max(0, Math.floor(n)))

/** Rates of `version` that apply to `c` (fast tier, long-prompt tier or standard). */
export function ratesFor (version: PriceVersion, c: Counts): Rates {
  if (c.fast && version.fast !== undefined) return version.fast
  const lp = version.longPrompt
  if (lp !== undefined && c.input + c.cacheRead + c.cacheWrite > lp.above) return lp.rates
  return version.standard
}

/** Exact cost of `c` at `rates` in micro-cents, times the multiplier (parts per million). */
export function costAt (c: Counts, rates: Rates, multiplierPpm: bigint): number {
  const r = intRates(rates)
  const oneHour = Math.min(Math.max(0, c.cacheWrite1h), Math.max(0, c.cacheWrite))
  const total = big(c.input) * r.i + big(c.output) * r.o + big(c.cacheRead) * r.r +
    big(oneHour) * r.w1 + big(c.cacheWrite - oneHour) * r.w5 + big(c.webSearch) * r.ws
  return Number((total * multiplierPpm + HALF) / SCALE)
}

/** A cost split by kind: input, output, cache read, 5-minute and 1-hour cache writes, web search. */
export type CostParts = [input: number, output: number, cacheRead: number, cacheWrite5m: number, cacheWrite1h: number, webSearch: number]

/**
 * {@link costAt} split by token kind, in whole micro-cents that always add up to exactly
 * `costAt(c, rates, multiplierPpm)`: each kind's exact share is rounded down and the micro-cents
 * the rounding left over go, one each, to the kinds with the largest remainders (earlier kinds
 * first on a tie).
 */
export function costPartsAt (c: Counts, rates: Rates, multiplierPpm: bigint): CostParts {
  const r = intRates(rates)
  const oneHour = Math.min(Math.max(0, c.cacheWrite1h), Math.max(0, c.cacheWrite))
  const raw = [big(c.input) * r.i, big(c.output) * r.o, big(c.cacheRead) * r.r, big(c.cacheWrite - oneHour) * r.w5, big(oneHour) * r.w1, big(c.webSearch) * r.ws]
    .map((x) => x * multiplierPpm)
  const total = (raw.reduce((a, b) => a + b, 0n) + HALF) / SCALE
  const parts = raw.map((x) => x / SCALE)
  let left = total - parts.reduce((a, b) => a + b, 0n)
  const order = raw.map((x, i) => ({ i, rem: x % SCALE })).sort((a, b) => (a.rem === b.rem ? a.i - b.i : a.rem > b.rem ? -1 : 1))
  for (const o of order) {
    if (left <= 0n) break
    parts[o.i] = (parts[o.i] as bigint) + 1n
    left--
  }
  return parts.map(Number) as CostParts
}

const overrideVersion = (o: PricingSettings['overrides'][number]): PriceVersion => Object.freeze({
  since: '1970-01-01',
  standard: Object.freeze({ input: o.input, output: o.output, cacheWrite5m: o.cache_write, cacheWrite1h: o.cache_write, cacheRead: o.cache_read, webSearch: 0.01 }),
})

/** Prices requests for one configuration. Cheap to call per request (results are cached per model). */
export class Pricer {
  /** `pricing.multiplier` in parts per million. */
  readonly multiplierPpm: bigint
  private readonly multiplier: number
  private readonly free: boolean
  private readonly overrides = new Map<string, Array<{ model: string, family: string | null, version: PriceVersion }>>()
  private readonly resolved = new BoundedCache<string, Priced>(10_000)
  private readonly worstRates = new BoundedCache<string, { day: number, input: number, output: number, above: number, longInput: number, longOutput: number }>(10_000)
  private readonly warned = new Set<string>()
  /** The previous answer: most requests in a row ask about the same model. */
  private last: { u: string | null, um: string | null, cm: string, p: Priced } | null = null

  constructor (settings?: PricingSettings, private readonly table: Readonly<Record<string, readonly PriceVersion[]>> = PRICE_TABLE) {
    this.multiplier = settings?.multiplier ?? 1
    this.free = settings?.free === true
    this.multiplierPpm = BigInt(Math.round(this.multiplier * MICRO))
    for (const o of settings?.overrides ?? []) {
      const list = this.overrides.get(o.upstream) ?? []
      list.push({ model: o.model.toLowerCase(), family: lookupModel(o.model)?.key ?? null, version: overrideVersion(o) })
      this.overrides.set(o.upstream, list)
    }
  }

  private family (model: string | null): string | null {
    if (model === null || model === '') return null
    const k = lookupModel(model)?.key
    return k !== undefined && this.table[k] !== undefined ? k : null
  }

  /** How a request served by `upstream` (model id sent there, and the client's id) is priced. */
  resolve (upstream: string | null, upstreamModel: string | null, clientModel: string): Priced {
    const last = this.last
    if (last !== null && last.u === upstream && last.um === upstreamModel && last.cm === clientModel) return last.p
    const key = `${upstream ?? ''}\u0000${upstreamModel ?? ''}\u0000${clientModel}`
    let p = this.resolved.get(key)
    if (p !== undefined) { this.last = { u: upstream, um: upstreamModel, cm: clientModel, p }; return p }
    const fam = this.family(upstreamModel) ?? this.family(clientModel)
    const rows = upstream === null ? undefined : this.overrides.get(upstream)
    const um = upstreamModel?.toLowerCase()
    const cm = clientModel.toLowerCase()
    const row = rows?.find((o) => o.model === um) ?? rows?.find((o) => o.model === cm) ??
      (fam !== null ? rows?.find((o) => o.family === fam) : undefined)
    if (row !== undefined) p = { versions: [row.version], source: 'override' }
    else if (fam !== null) p = { versions: this.table[fam] as readonly PriceVersion[], source: 'table' }
    else {
      p = { versions: [UNKNOWN_MODEL], source: 'unknown' }
      const m = upstreamModel ?? clientModel
      if (!this.warned.has(m) && this.warned.size < 1000) {
        this.warned.add(m)
        ops.warn(`spend meter has no exact rates for model '${m}' — metering at the unknown-model default tier`)
      }
    }
    this.resolved.set(key, p)
    this.last = { u: upstream, um: upstreamModel, cm: clientModel, p }
    return p
  }

  /** Exact cost in micro-cents of `c` priced as `p`, with the version in effect at `at` (ms). */
  cost (c: Counts, p: Priced, at: number): number {
    if (this.free) return 0
    const version = p.versions.length === 1 ? p.versions[0] as PriceVersion : versionAt(p.versions, at)
    return costAt(c, ratesFor(version, c), this.multiplierPpm)
  }

  /** {@link cost} split by token kind (the parts add up to it exactly). */
  costParts (c: Counts, p: Priced, at: number): CostParts {
    if (this.free) return [0, 0, 0, 0, 0, 0]
    const version = p.versions.length === 1 ? p.versions[0] as PriceVersion : versionAt(p.versions, at)
    return costPartsAt(c, ratesFor(version, c), this.multiplierPpm)
  }

  /**
   * An upper bound, in micro-cents, of what a request for `clientModel` can cost before it is
   * sent: every body byte counted as one prompt token at the dearest prompt rate (input or cache
   * write), plus 1,024 tokens of framing, plus `maxTokens` output tokens (64k when absent), on
   * any upstream (overrides included). Fast mode and server-side tools, which the body does not
   * bound, are not covered.
   */
  worst (clientModel: string, bodyBytes: number, maxTokens: number | undefined, at: number): number {
    const day = Math.floor(at / 86_400_000)
    let w = this.worstRates.get(clientModel)
    if (w === undefined || w.day !== day) {
      const fam = this.family(clientModel)
      const cm = clientModel.toLowerCase()
      const versions: PriceVersion[] = [fam !== null ? versionAt(this.table[fam] as readonly PriceVersion[], at) : UNKNOWN_MODEL]
      for (const rows of this.overrides.values()) {
        for (const o of rows) if (o.model === cm || (fam !== null && o.family === fam)) versions.push(o.version)
      }
      const prompt = (r: Rates): number => Math.max(r.input, r.cacheWrite5m, r.cacheWrite1h)
      w = { day, input: 0, output: 0, above: Infinity, longInput: 0, longOutput: 0 }
      for (const x of versions) {
        w.input = Math.max(w.input, prompt(x.standard))
        w.output = Math.max(w.output, x.standard.output)
        if (x.longPrompt !== undefined) {
          w.above = Math.min(w.above, x.longPrompt.above)
          w.longInput = Math.max(w.longInput, prompt(x.longPrompt.rates))
          w.longOutput = Math.max(w.longOutput, x.longPrompt.rates.output)
        }
      }
      this.worstRates.set(clientModel, w)
    }
    const prompt = Math.max(0, bodyBytes) + 1024
    const out = maxTokens !== undefined && maxTokens > 0 ? maxTokens : 65_536
    const long = prompt > w.above
    const inRate = long ? Math.max(w.input, w.longInput) : w.input
    const outRate = long ? Math.max(w.output, w.longOutput) : w.output
    // USD per MTok × tokens × 100 = micro-cents.
    return Math.ceil((prompt * inRate + out * outRate) * 100 * this.multiplier) + 1
  }
}
