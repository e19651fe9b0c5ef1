// Display helpers. Money arrives as decimal strings of cents (the Admin API's shape) and is only
// formatted here, never summed into floats that are sent back.

export const usd = (cents: unknown): string => {
  const n = Number(cents ?? 0) / 100
  return n.toLocaleString(undefined, { style: 'currency', currency: 'USD', minimumFractionDigits: 2, maximumFractionDigits: n !== 0 && Math.abs(n) < 0.01 ? 4 : 2 })
}
export const num = (n: unknown): string => Number(n ?? 0).toLocaleString()
export const when = (iso: string | null | undefined): string => iso ? new Date(iso).toLocaleString() : '—'
export const dayAgo = (d: number): string => new Date(Date.now() - d * 86400000).toISOString().slice(0, 10)
export const startDay = (days: number): string => `${dayAgo(days - 1)}T00:00:00Z`
