/**
 * Exact money for the reports: the ledger's integer micro-cents (decimal text, any size) as
 * cents in a decimal string, the unit of Anthropic's cost report ("123.45" USD cents = $1.23).
 * Invariant: no float on the way; the string is exact to the micro-cent with trailing zeros
 * removed ("0", "1", "0.000001", "12.5").
 */
export function centsFromMicro (micro: bigint): string {
  const neg = micro < 0n
  const m = neg ? -micro : micro
  const whole = m / 1_000_000n
  const frac = (m % 1_000_000n).toString().padStart(6, '0').replace(/0+$/, '')
  return `${neg ? '-' : ''}${whole}${frac === '' ? '' : `.${frac}`}`
}
