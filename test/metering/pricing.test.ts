/**
 * Pricing: a recorded usage mix priced to the cent (exact micro-cents), every rate rule, and the
 * absence of floating-point drift.
 */
import t from 'tap'
import { PRICE_TABLE, type PriceVersion } from '../../lib/metering/price-table.js'
import { costAt, costPartsAt, meterPricing, Pricer, type Counts } from '../../lib/metering/pricing.js'
import { prng } from '../helpers/prng.js'

const AT = Date.UTC(2026, 5, 15, 12)
const counts = (c: Partial<Counts>): Counts => ({ input: 0, output: 0, cacheRead: 0, cacheWrite: 0, cacheWrite1h: 0, webSearch: 0, fast: false, ...c })

/** A recorded mix: [upstream, upstream model, client model, usage, expected micro-cents at multiplier 1]. */
const MIX: Array<[string | null, string | null, string, Counts, number]> = [
  // Sonnet 4.5: input 3, output 15, 5-minute write 3.75, 1-hour write 6, read 0.30, web search $0.01 each
  ['anthropic', 'claude-sonnet-4-5-20250929', 'claude-sonnet-4-5', counts({ input: 1000, output: 500, cacheRead: 2000, cacheWrite: 3000, cacheWrite1h: 1000, webSearch: 2 }), 4_460_000],
  // Opus 4.6 in fast mode: 30 / 150
  ['anthropic', 'claude-opus-4-6', 'claude-opus-4-6', counts({ input: 100, output: 200, fast: true }), 3_300_000],
  // Sonnet 4.6 above 200k prompt tokens: the long-prompt tier (6 / 22.50, read 0.60) for the whole request
  ['anthropic', 'claude-sonnet-4-6', 'claude-sonnet-4-6', counts({ input: 150_000, cacheRead: 60_000, output: 1000 }), 95_850_000],
  // unknown model: the $5/$25 fallback tier
  ['anthropic', 'my-custom-model', 'my-custom-model', counts({ input: 1000, output: 1000 }), 3_000_000],
  // Haiku 3.5 by its Bedrock id: 0.80 / 4, write 1, read 0.08 → 1.259872 cents
  ['anthropic', 'us.anthropic.claude-3-5-haiku-20241022-v1:0', 'claude-3-5-haiku', counts({ input: 12_345, output: 678, cacheRead: 9, cacheWrite: 10 }), 1_259_872],
  // Opus 4.1 by its Vertex id: 15 / 75
  ['anthropic', 'claude-opus-4-1@20250805', 'claude-opus-4-1', counts({ input: 10, output: 10 }), 90_000],
  // an override on upstream 'corp' for Sonnet 4.6: its one cache-write rate covers both TTLs
  ['corp', 'claude-sonnet-4-6', 'claude-sonnet-4-6', counts({ input: 1000, output: 1000, cacheWrite: 800, cacheWrite1h: 400 }), 1_750_000],
]
const OVERRIDES = [{ upstream: 'corp', model: 'claude-sonnet-4-6', input: 2.5, output: 12.5, cache_read: 0.25, cache_write: 3.125 }]

t.test('a recorded usage mix costs exactly what the rates say', async (t) => {
  const p = new Pricer({ multiplier: 1, overrides: OVERRIDES })
  let total = 0
  for (const [up, um, cm, c, want] of MIX) {
    const got = p.cost(c, p.resolve(up, um, cm), AT)
    t.equal(got, want, `${um}: ${want} micro-cents`)
    total += got
  }
  t.equal(total, 109_709_872, 'total 109.709872 cents')
  t.equal((total / 1e6).toFixed(2), '109.71', 'to the cent')
})

t.test('pricing.multiplier scales every amount, rounded half up per request to a micro-cent', async (t) => {
  const p = new Pricer({ multiplier: 0.9, overrides: OVERRIDES })
  const got = MIX.map(([up, um, cm, c]) => p.cost(c, p.resolve(up, um, cm), AT))
  t.same(got, [4_014_000, 2_970_000, 86_265_000, 2_700_000, 1_133_885, 81_000, 1_575_000])
  t.equal(new Pricer({ multiplier: 1, overrides: [] }).cost(counts({ webSearch: 3 }), new Pricer().resolve(null, null, 'claude-haiku-4-5'), AT), 3_000_000, 'web search: one cent a request')
})

t.test('load_test_mode meters every request at zero; the worst case still uses list prices', async (t) => {
  const on = meterPricing({ pricing: { multiplier: 0.9, overrides: OVERRIDES }, load_test_mode: { enabled: true } })
  t.same(on, { multiplier: 0.9, overrides: OVERRIDES, free: true })
  t.same(meterPricing({ load_test_mode: { enabled: true } }), { multiplier: 1, overrides: [], free: true }, 'no pricing block: defaults')
  t.equal(meterPricing({ pricing: { multiplier: 1, overrides: [] }, load_test_mode: { enabled: false } })?.free, undefined, 'off: the pricing block as is')
  const free = new Pricer(on)
  const paid = new Pricer({ multiplier: 0.9, overrides: OVERRIDES })
  for (const [up, um, cm, c] of MIX) {
    t.equal(free.cost(c, free.resolve(up, um, cm), AT), 0, `${um}: free`)
    t.ok(paid.cost(c, paid.resolve(up, um, cm), AT) > 0, `${um}: not free without load_test_mode`)
  }
  t.equal(free.worst('claude-opus-4-1', 1000, 100, AT), paid.worst('claude-opus-4-1', 1000, 100, AT), 'admission reserves as usual')
})

t.test('override matching order: sent model, then client model, then family', async (t) => {
  const p = new Pricer({
    multiplier: 1,
    overrides: [
      { upstream: 'u', model: 'claude-opus-4-6', input: 1, output: 1, cache_read: 1, cache_write: 1 },
      { upstream: 'u', model: 'my-alias', input: 2, output: 2, cache_read: 2, cache_write: 2 },
      { upstream: 'u', model: 'CLAUDE-SONNET-4-5', input: 3, output: 3, cache_read: 3, cache_write: 3 },
    ],
  })
  const c = counts({ input: 100_000 })
  t.equal(p.cost(c, p.resolve('u', 'claude-opus-4-6', 'my-alias'), AT), 10_000_000, 'the id sent upstream wins')
  t.equal(p.cost(c, p.resolve('u', 'some-deployment', 'my-alias'), AT), 20_000_000, 'then the client id')
  t.equal(p.cost(c, p.resolve('u', 'us.anthropic.claude-sonnet-4-5-20250929-v1:0', 'x'), AT), 30_000_000, 'then the family, case-insensitively')
  t.equal(p.cost(c, p.resolve('other', 'claude-opus-4-6', 'claude-opus-4-6'), AT), 50_000_000, 'other upstreams use the list price')
  t.equal(p.resolve('u', 'claude-opus-4-6', 'x').source, 'override')
  t.equal(p.resolve(null, null, 'nope').source, 'unknown')
})

t.test('price versions take effect on their date', async (t) => {
  const table: Record<string, readonly PriceVersion[]> = {
    ...PRICE_TABLE,
    haiku45: [
      { since: '1970-01-01', standard: { input: 1, output: 5, cacheWrite5m: 1.25, cacheWrite1h: 2, cacheRead: 0.1, webSearch: 0.01 } },
      { since: '2026-07-01', standard: { input: 0.5, output: 2.5, cacheWrite5m: 0.625, cacheWrite1h: 1, cacheRead: 0.05, webSearch: 0.01 } },
    ],
  }
  const p = new Pricer(undefined, table)
  const r = p.resolve(null, null, 'claude-haiku-4-5')
  const c = counts({ input: 1_000_000 })
  t.equal(p.cost(c, r, Date.UTC(2026, 5, 30, 23, 59, 59)), 100_000_000, 'June 30: old price')
  t.equal(p.cost(c, r, Date.UTC(2026, 6, 1)), 50_000_000, 'July 1: new price')
})

t.test('the 5.x models price at their own rates, not the unknown-model tier', async (t) => {
  const p = new Pricer()
  const mix = counts({ input: 1000, output: 1000, cacheRead: 1000, cacheWrite: 1000, cacheWrite1h: 500 })
  const cost = (model: string, c: Counts, at = AT): number => p.cost(c, p.resolve('anthropic', model, model), at)
  for (const m of ['claude-opus-5-5', 'claude-sonnet-5-5', 'claude-haiku-5-5', 'claude-fable-5-1', 'claude-fable-5-2', 'us.anthropic.claude-fable-5-2']) {
    t.equal(p.resolve('anthropic', m, m).source, 'table', `${m}: from the table`)
  }
  // micro-cents = USD/MTok × tokens × 100: 1000 input, 1000 output, 1000 cache reads, 500 5-minute and 500 1-hour writes
  t.equal(cost('claude-opus-5-5', mix), 3_070_000, 'Opus 5.5: 4 / 20, writes 5 / 8, read 0.20')
  t.equal(cost('claude-fable-5-1', mix), 7_650_000, 'Fable 5.1: 10 / 50, writes 12.50 / 20, read 0.25')
  t.equal(cost('claude-fable-5-2', mix), 6_120_000, 'Fable 5.2: 8 / 40, writes 10 / 16, read 0.20')
  t.equal(cost('claude-sonnet-5-5', mix), 1_545_000, 'Sonnet 5.5: 2 / 10, writes 2.50 / 4, read 0.20')
  t.equal(cost('claude-sonnet-5-5', mix, Date.UTC(2026, 9, 7)), 1_535_000, 'Sonnet 5.5 from 2026-10-07: read 0.10')
  t.equal(cost('claude-haiku-5-5', mix), 77_250, 'Haiku 5.5 up to 100k prompt tokens: 0.10 / 0.50, writes 0.125 / 0.20, read 0.01')
  t.equal(cost('claude-haiku-5-5', counts({ input: 150_000, output: 1000 })), 7_750_000, 'Haiku 5.5 past 100k prompt tokens: 0.50 / 2.50 on the whole request')
  t.equal(cost('claude-haiku-5-5', counts({ input: 100_000, output: 1000 })), 1_050_000, 'exactly 100k is still the lower band')
})

t.test('sums of exact amounts do not drift', async (t) => {
  const p = new Pricer()
  const r = p.resolve(null, null, 'claude-3-5-haiku')
  const one = p.cost(counts({ cacheRead: 1 }), r, AT)
  t.equal(one, 8, 'one cache-read token of Haiku 3.5 is 8 micro-cents')
  let exact = 0
  let float = 0
  for (let i = 0; i < 100_000; i++) { exact += one; float += 0.08 / 1e6 * 100 }
  t.equal(exact, 800_000, '100,000 of them are exactly 0.8 cents')
  t.not(float, 0.8, 'the same sum in floating-point cents drifts')
})

t.test('worst case bounds the cost of any request the body allows', async (t) => {
  const p = new Pricer({ multiplier: 1, overrides: OVERRIDES })
  const w = p.worst('claude-sonnet-4-6', 4000, 1000, AT)
  // 5,024 prompt tokens at the dearest prompt rate (6, the 1-hour write) + 1,000 output at 15
  t.ok(w >= Math.ceil(5024 * 6 * 100 + 1000 * 15 * 100), `worst ${w}`)
  const actual = p.cost(counts({ input: 1000, cacheWrite: 3000, cacheWrite1h: 3000, output: 1000 }), p.resolve('anthropic', 'claude-sonnet-4-6', 'claude-sonnet-4-6'), AT)
  t.ok(actual <= w, 'a real request from that body costs less')
  t.ok(p.worst('claude-sonnet-4-6', 300_000, 1000, AT) >= 301_024 * 12 * 100, 'a prompt past 200k bytes is bounded at the long-prompt rates')
  t.ok(p.worst('unknown-model', 0, undefined, AT) >= 65_536 * 25 * 100, 'no max_tokens: 64k output at the fallback rate')
})

t.test('the cost split by kind adds up to the cost exactly, each part within a micro-cent of its share', async (t) => {
  const p = new Pricer({ multiplier: 1, overrides: OVERRIDES })
  const sonnet = p.resolve('anthropic', 'claude-sonnet-4-5-20250929', 'claude-sonnet-4-5')
  t.same(p.costParts(counts({ input: 1000, output: 500, cacheRead: 2000, cacheWrite: 3000, cacheWrite1h: 1000, webSearch: 2 }), sonnet, AT),
    [300_000, 750_000, 60_000, 750_000, 600_000, 2_000_000])
  t.same(new Pricer({ multiplier: 1, overrides: [], free: true }).costParts(counts({ input: 5 }), sonnet, AT), [0, 0, 0, 0, 0, 0])
  const rand = prng(17)
  const rates = { input: 0.8, output: 4, cacheWrite5m: 1, cacheWrite1h: 1.6, cacheRead: 0.08, webSearch: 0.01 }
  for (let i = 0; i < 2000; i++) {
    const n = (max: number): number => Math.floor(rand() * max)
    const w = n(5000)
    const c = counts({ input: n(300_000), output: n(64_000), cacheRead: n(100_000), cacheWrite: w, cacheWrite1h: n(w + 1), webSearch: n(4) })
    const ppm = BigInt(1 + n(3_000_000))
    const parts = costPartsAt(c, rates, ppm)
    const total = costAt(c, rates, ppm)
    if (parts.reduce((a, b) => a + b, 0) !== total || parts.some((x) => x < 0 || !Number.isInteger(x))) {
      t.fail(`parts ${JSON.stringify(parts)} do not add up to ${total} for ${JSON.stringify(c)} at ${ppm} ppm`)
      return
    }
  }
  t.pass('2,000 random requests split exactly')
})
