/**
 * Calendar periods for spend caps, all in UTC.
 *
 * Every metered request counts toward three buckets of its principal at once: the day
 * (`YYYY-MM-DD`), the ISO-8601 week (`YYYY-Www`, Monday first, ISO week-numbering year) and the
 * month (`YYYY-MM`). The keys are what the `spend.period` column holds, so they must match the
 * reference gateway's spelling exactly. A bucket resets at the next 00:00 UTC, the next Monday
 * 00:00 UTC, or the first of the next month 00:00 UTC.
 *
 * The hot path asks for the current buckets on every capped request, so the answer is cached for
 * the UTC day it belongs to.
 */

export type Period = 'daily' | 'weekly' | 'monthly'

/** The three periods in the order every listing uses. */
export const PERIODS: readonly Period[] = Object.freeze(['daily', 'weekly', 'monthly'])

export const isPeriod = (v: unknown): v is Period => v === 'daily' || v === 'weekly' || v === 'monthly'

const DAY_MS = 86_400_000
const pad = (n: number): string => (n < 10 ? '0' : '') + String(n)

/** ISO week key of the UTC date containing `t` (ms). */
function isoWeek (t: number): string {
  const d = new Date(t)
  const day = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate())
  const dow = new Date(day).getUTCDay() || 7
  // The Thursday of this week decides the ISO year.
  const thursday = new Date(day + (4 - dow) * DAY_MS)
  const year = thursday.getUTCFullYear()
  const week = Math.floor((thursday.getTime() - Date.UTC(year, 0, 1)) / DAY_MS / 7) + 1
  return `${year}-W${pad(week)}`
}

/** The bucket key of `period` for the instant `t` (ms since the epoch). */
export function bucketKey (period: Period, t: number): string {
  const d = new Date(t)
  if (period === 'monthly') return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}`
  if (period === 'daily') return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`
  return isoWeek(t)
}

/** When the bucket of `period` holding `t` ends (ms since the epoch). */
export function resetsAt (period: Period, t: number): number {
  const d = new Date(t)
  const y = d.getUTCFullYear()
  const m = d.getUTCMonth()
  const day = d.getUTCDate()
  if (period === 'monthly') return Date.UTC(y, m + 1, 1)
  if (period === 'daily') return Date.UTC(y, m, day + 1)
  return Date.UTC(y, m, day + 8 - (d.getUTCDay() || 7))
}

/** The buckets of one UTC day: keys and reset times, indexed like {@link PERIODS}. */
export interface DayBuckets {
  /** First and last+1 millisecond of the day these answers hold for. */
  readonly from: number
  readonly to: number
  readonly keys: readonly [string, string, string]
  readonly resets: readonly [number, number, number]
}

let cached: DayBuckets | null = null

/** The current buckets for the instant `t`, cached per UTC day. */
export function bucketsAt (t: number): DayBuckets {
  const c = cached
  if (c !== null && t >= c.from && t < c.to) return c
  const from = Math.floor(t / DAY_MS) * DAY_MS
  const next: DayBuckets = {
    from,
    to: from + DAY_MS,
    keys: [bucketKey('daily', t), bucketKey('weekly', t), bucketKey('monthly', t)],
    resets: [resetsAt('daily', t), resetsAt('weekly', t), resetsAt('monthly', t)],
  }
  cached = next
  return next
}

/** Index of `period` in {@link PERIODS}. */
export const periodIndex = (p: Period): 0 | 1 | 2 => p === 'daily' ? 0 : p === 'weekly' ? 1 : 2
