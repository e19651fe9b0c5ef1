/**
 * Money for `weir admin`: amounts typed by a person to the API's whole-cent strings and back,
 * exactly. Never through a JavaScript number: `12.10 * 100` is 1209.9999999999998, and a cap set
 * from it by truncation would be 1209. Everything here is string arithmetic on decimal digits.
 *
 * Input (`parseAmount`) must say its unit, so no amount can be read as the other one:
 *   dollars: `$12.10`, `12.10`, `12.1`, `$12`, `12usd`, `12.10 USD` (a `$`, a decimal point or a
 *            `usd` suffix; at most two decimals: a cap cannot hold a fraction of a cent)
 *   cents:   `1210c`, `1210 cents`, `1210¢`
 *   `unlimited` (also `none`): the explicit no-cap value, `null` in the API.
 * A bare integer (`12`) is refused with both readings spelled out. Thousands separators,
 * signs and exponents are refused. The result has at most 18 digits (the API's limit).
 *
 * Output: the API's cents string as it is (`amount_cents`), and `formatDollars` for people.
 */

/** Largest cap the API accepts: 18 decimal digits of cents. */
const MAX_DIGITS = 18

export class AmountError extends Error {}

/** Strip leading zeros, keeping one digit. */
const canon = (digits: string): string => digits.replace(/^0+(?=\d)/, '')

function checked (cents: string, text: string): string {
  const c = canon(cents)
  if (c.length > MAX_DIGITS) throw new AmountError(`amount '${text}' is too large (a cap has at most ${MAX_DIGITS} digits of cents)`)
  return c
}

/**
 * Parse what a person typed into whole cents as a decimal string, or null for `unlimited`.
 * Throws AmountError saying what is wrong and how to write it.
 */
export function parseAmount (input: string): string | null {
  const text = input.trim()
  const lower = text.toLowerCase()
  if (lower === 'unlimited' || lower === 'none') return null
  let m = /^(\d+)\s*(?:c|cents?|¢)$/i.exec(text)
  if (m !== null) return checked(m[1] as string, text)
  m = /^(\$)?\s*(\d*)(?:\.(\d*))?\s*(usd)?$/i.exec(text)
  if (m !== null) {
    const [, dollarSign, whole = '', frac, usd] = m
    const isDollars = dollarSign !== undefined || frac !== undefined || usd !== undefined
    if (whole === '' && (frac === undefined || frac === '')) throw new AmountError(`amount '${input}' has no digits`)
    if (!isDollars) {
      throw new AmountError(`amount '${input}' has no unit: write $${whole} or ${whole}.00 for dollars, or ${whole}c for cents`)
    }
    if (frac !== undefined && frac.length > 2) {
      throw new AmountError(`amount '${input}' has ${frac.length} decimals: a cap is whole cents, so at most 2 (e.g. $${whole === '' ? '0' : whole}.${frac.slice(0, 2)})`)
    }
    if (frac !== undefined && frac === '' && whole === '') throw new AmountError(`amount '${input}' has no digits`)
    return checked((whole === '' ? '0' : whole) + (frac ?? '').padEnd(2, '0'), text)
  }
  if (/[,_]/.test(text)) throw new AmountError(`amount '${input}': write it without separators (e.g. $1000.00 or 100000c)`)
  if (/^[-+]/.test(text)) throw new AmountError(`amount '${input}': a cap cannot be signed; write $12.10, 1210c or unlimited`)
  throw new AmountError(`amount '${input}' is not an amount: write dollars ($12.10 or 12.10), cents (1210c) or unlimited`)
}

/** Whole cents (a string of digits, as the API sends it) as dollars: "1210" → "$12.10". */
export function formatDollars (cents: string): string {
  if (!/^\d+$/.test(cents)) throw new AmountError(`not a whole number of cents: '${cents}'`)
  const c = canon(cents).padStart(3, '0')
  const whole = canon(c.slice(0, -2))
  return `$${whole}.${c.slice(-2)}`
}

/**
 * Cents with up to three decimals (the API's `period_to_date_spend`, e.g. "12050.5") as dollars
 * with up to five decimals, trailing zeros past the cents removed: "12050.5" → "$120.505".
 */
export function formatSpend (cents: string): string {
  const m = /^(\d+)(?:\.(\d{1,3}))?$/.exec(cents)
  if (m === null) throw new AmountError(`not an amount of cents: '${cents}'`)
  const dollars = formatDollars(m[1] as string)
  const extra = (m[2] ?? '').replace(/0+$/, '')
  return dollars + extra
}
