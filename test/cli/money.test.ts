/**
 * Money conversion of `weir admin` (lib/cli/money.ts), checked as properties over many random
 * amounts against an independent oracle (BigInt arithmetic), in both directions: dollars typed by
 * a person → whole cents → dollars, and the API's cents → dollars → cents. The generator is seeded,
 * so a failure names an amount that reproduces.
 */
import t from 'tap'
import { AmountError, formatDollars, formatSpend, parseAmount } from '../../lib/cli/money.js'

/** xorshift32: deterministic, so a failing case can be replayed. */
function rng (seed: number): () => number {
  let x = seed >>> 0 || 1
  return () => { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; return x }
}
const SEED = 20_261_207
const N = 20_000

/** A random string of `n` decimal digits (leading zeros allowed). */
const digits = (r: () => number, n: number): string => Array.from({ length: n }, () => String(r() % 10)).join('')

t.test('known amounts, including the ones a float conversion gets wrong', async (t) => {
  const cases: Array<[string, string | null]> = [
    ['12.10', '1210'], ['$12.10', '1210'], ['12.1', '1210'], ['$12', '1200'], ['12.', '1200'], ['.5', '50'], ['$0.05', '5'],
    ['0.29', '29'], ['1.15', '115'], ['4.35', '435'], ['19.99', '1999'], ['1099.99', '109999'], ['12usd', '1200'], ['12.10 USD', '1210'],
    ['1210c', '1210'], ['1210 cents', '1210'], ['1 cent', '1'], ['007c', '7'], ['0c', '0'], ['$0', '0'], ['unlimited', null], ['None', null],
    ['9999999999999999.99', '999999999999999999'],
  ]
  for (const [input, cents] of cases) t.equal(parseAmount(input), cents, input)
  // The trap the issue names: float dollars times 100, truncated, lose a cent.
  t.equal(Math.trunc(1.15 * 100), 114, 'floats drift (the reason for string arithmetic)')
  t.equal(Math.trunc(0.29 * 100), 28)
  t.equal(formatDollars('1210'), '$12.10')
  t.equal(formatDollars('5'), '$0.05')
  t.equal(formatDollars('0'), '$0.00')
  t.equal(formatDollars('000120'), '$1.20')
  t.equal(formatSpend('12050.5'), '$120.505')
  t.equal(formatSpend('1'), '$0.01')
  t.equal(formatSpend('0.125'), '$0.00125')
})

t.test('ambiguous or malformed amounts are refused with a way to write them', async (t) => {
  const cases: Array<[string, RegExp]> = [
    ['12', /no unit: write \$12 or 12\.00 for dollars, or 12c for cents/],
    ['12.105', /3 decimals: a cap is whole cents, so at most 2 \(e\.g\. \$12\.10\)/],
    ['-5', /cannot be signed/], ['+5.00', /cannot be signed/],
    ['1,000.00', /without separators/], ['1_000c', /without separators/],
    ['1e3', /not an amount/], ['twelve', /not an amount/], ['', /no digits/], ['$', /no digits/], ['.', /no digits/], ['5.5c', /not an amount/],
    ['10000000000000000.00', /too large/], ['1234567890123456789c', /too large/],
  ]
  for (const [input, message] of cases) t.throws(() => parseAmount(input), { constructor: AmountError, message }, JSON.stringify(input))
  t.throws(() => formatDollars('12.10'), { constructor: AmountError, message: /not a whole number of cents/ })
  t.throws(() => formatDollars('-1'), { constructor: AmountError, message: /not a whole number of cents/ })
})

t.test(`property: ${N} random dollar amounts convert to the exact cents (BigInt oracle) and back`, async (t) => {
  const r = rng(SEED)
  let bad = 0
  for (let i = 0; i < N && bad < 5; i++) {
    const whole = digits(r, 1 + r() % 16)
    const fracLen = r() % 3
    const frac = digits(r, fracLen)
    const style = r() % 4
    const text = style === 0 ? `$${whole}.${frac}` : style === 1 ? `${whole}.${frac}` : style === 2 ? `${whole}.${frac} usd` : (fracLen === 0 ? `$${whole}` : `$${whole}.${frac}`)
    const oracle = (BigInt(whole) * 100n + BigInt(frac.padEnd(2, '0'))).toString()
    const cents = parseAmount(text)
    if (cents !== oracle) { bad++; t.fail(`${text} → ${String(cents)}, expected ${oracle}`); continue }
    const back = formatDollars(cents)
    const expected = `$${BigInt(whole).toString()}.${frac.padEnd(2, '0')}`
    if (back !== expected) { bad++; t.fail(`${cents} → ${back}, expected ${expected}`); continue }
    if (parseAmount(back) !== cents) { bad++; t.fail(`${back} does not parse back to ${cents}`) }
  }
  t.equal(bad, 0, `every one of ${N} dollar amounts (seed ${SEED}) exact in both directions`)
})

t.test(`property: ${N} random cent strings survive cents → dollars → cents unchanged`, async (t) => {
  const r = rng(SEED + 1)
  let bad = 0
  for (let i = 0; i < N && bad < 5; i++) {
    const cents = BigInt(digits(r, 1 + r() % 18)).toString()
    const dollars = formatDollars(cents)
    const q = BigInt(cents)
    const oracle = `$${(q / 100n).toString()}.${(q % 100n).toString().padStart(2, '0')}`
    if (dollars !== oracle) { bad++; t.fail(`${cents} → ${dollars}, expected ${oracle}`); continue }
    if (parseAmount(dollars) !== cents) { bad++; t.fail(`${dollars} → ${String(parseAmount(dollars))}, expected ${cents}`); continue }
    if (parseAmount(`${cents}c`) !== cents) { bad++; t.fail(`${cents}c does not parse to ${cents}`) }
  }
  t.equal(bad, 0, `every one of ${N} cent amounts (seed ${SEED + 1}) round-trips`)
})

t.test('property: no two distinct amounts typed in dollars map to the same cents', async (t) => {
  const r = rng(SEED + 2)
  const seen = new Map<string, string>()
  let clashes = 0
  for (let i = 0; i < 5000; i++) {
    const q = BigInt(digits(r, 1 + r() % 12))
    const canonical = `$${(q / 100n).toString()}.${(q % 100n).toString().padStart(2, '0')}`
    const c = parseAmount(canonical) as string
    const prev = seen.get(c)
    if (prev !== undefined && prev !== canonical) clashes++
    seen.set(c, canonical)
  }
  t.equal(clashes, 0)
})
