/**
 * Weir's list-price table, in US dollars per million tokens (web search: dollars per request).
 *
 * Keyed by the model catalog's family key (lib/proxy/catalog.ts), so every provider spelling of a
 * model (Bedrock ids and profile ARNs, Vertex `@` ids, Foundry deployments) prices the same way.
 * Each family lists price versions with the UTC date they take effect; a request is priced with
 * the newest version in effect when it was admitted, so a price change can be added ahead of time
 * without rewriting history. A version may carry:
 *   - `longPrompt`: rates for the whole request once its prompt (input + cache reads + cache
 *     writes) is above `above` tokens — the 1M-context long-prompt rates;
 *   - `fast`: rates for requests the upstream reports with `usage.speed: "fast"`.
 * Cache writes have separate 5-minute and 1-hour rates. Models the table does not know are metered
 * at {@link UNKNOWN_MODEL} (the $5/$25 tier), with a warning. Operators override any of this per
 * upstream with `pricing.overrides`.
 *
 * This is a circuit breaker at list price, not an invoice: reconcile with the provider's bill.
 */

/** Rates of one tier, USD per million tokens (webSearch: USD per request). */
export interface Rates {
  readonly input: number
  readonly output: number
  readonly cacheWrite5m: number
  readonly cacheWrite1h: number
  readonly cacheRead: number
  readonly webSearch: number
}

/** One price version of a model family. */
export interface PriceVersion {
  /** First UTC day the version applies, `YYYY-MM-DD`. */
  readonly since: string
  readonly standard: Rates
  readonly longPrompt?: { readonly above: number, readonly rates: Rates }
  readonly fast?: Rates
}

const WEB_SEARCH = 0.01

/** A tier from input/output and the cache rates (5-minute write, 1-hour write, read). */
const tier = (input: number, output: number, cacheWrite5m: number, cacheWrite1h: number, cacheRead: number): Rates =>
  Object.freeze({ input, output, cacheWrite5m, cacheWrite1h, cacheRead, webSearch: WEB_SEARCH })

const HAIKU_35 = tier(0.8, 4, 1, 1.6, 0.08)
const HAIKU_45 = tier(1, 5, 1.25, 2, 0.1)
const T3_15 = tier(3, 15, 3.75, 6, 0.3)
const T3_15_LONG = tier(6, 22.5, 7.5, 12, 0.6)
const T2_10 = tier(2, 10, 2.5, 4, 0.2)
const T5_25 = tier(5, 25, 6.25, 10, 0.5)
const T5_25_LONG = tier(10, 37.5, 12.5, 20, 1)
const T15_75 = tier(15, 75, 18.75, 30, 1.5)
const T10_50 = tier(10, 50, 12.5, 20, 1)
const FAST_30_150 = tier(30, 150, 37.5, 60, 3)
// The 5.x generation's own rates (sources in the commit that added them).
const OPUS_55 = tier(4, 20, 5, 8, 0.2)
const SONNET_55 = tier(2, 10, 2.5, 4, 0.2)
const SONNET_55_READ_CUT = tier(2, 10, 2.5, 4, 0.1)
const HAIKU_55 = tier(0.1, 0.5, 0.125, 0.2, 0.01)
const HAIKU_55_LONG = tier(0.5, 2.5, 0.625, 1, 0.05)
const FABLE_51 = tier(10, 50, 12.5, 20, 0.25)
const FABLE_52 = tier(8, 40, 10, 16, 0.2)

/** Long-prompt threshold of the 1M-context models: prompts above 200k tokens. */
const LONG_200K = 200_000
/** Haiku 5.5's higher band: prompts above 100k tokens. */
const LONG_100K = 100_000

/** Rates for models the table does not know (the reference's unknown-model tier). */
export const UNKNOWN_MODEL: PriceVersion = Object.freeze({ since: '1970-01-01', standard: T5_25 })

const v = (standard: Rates, extra: Partial<Pick<PriceVersion, 'longPrompt' | 'fast'>> = {}, since = '1970-01-01'): PriceVersion =>
  Object.freeze({ since, standard, ...extra })

/** Family key → versions, oldest first. */
export const PRICE_TABLE: Readonly<Record<string, readonly PriceVersion[]>> = Object.freeze({
  haiku35: [v(HAIKU_35)],
  haiku45: [v(HAIKU_45)],
  sonnet37: [v(T3_15)],
  sonnet4: [v(T3_15, { longPrompt: { above: LONG_200K, rates: T3_15_LONG } })],
  sonnet45: [v(T3_15, { longPrompt: { above: LONG_200K, rates: T3_15_LONG } })],
  sonnet46: [v(T3_15, { longPrompt: { above: LONG_200K, rates: T3_15_LONG } })],
  sonnet5: [v(T2_10)],
  opus4: [v(T15_75)],
  opus41: [v(T15_75)],
  opus45: [v(T5_25)],
  opus46: [v(T5_25, { longPrompt: { above: LONG_200K, rates: T5_25_LONG }, fast: FAST_30_150 })],
  opus47: [v(T5_25, { fast: FAST_30_150 })],
  opus48: [v(T5_25, { fast: T10_50 })],
  opus5: [v(T5_25, { fast: T10_50 })],
  fable5: [v(T10_50)],
  opus55: [v(OPUS_55)],
  sonnet55: [v(SONNET_55), v(SONNET_55_READ_CUT, {}, '2026-10-07')],
  haiku55: [v(HAIKU_55, { longPrompt: { above: LONG_100K, rates: HAIKU_55_LONG } })],
  fable51: [v(FABLE_51)],
  fable52: [v(FABLE_52)],
})

/** The version of `versions` in effect at `t` (ms); the oldest when `t` predates them all. */
export function versionAt (versions: readonly PriceVersion[], t: number): PriceVersion {
  const day = new Date(t).toISOString().slice(0, 10)
  let pick = versions[0] as PriceVersion
  for (const x of versions) if (x.since <= day) pick = x
  return pick
}
