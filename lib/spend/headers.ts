/**
 * How a developer's standing against their caps is told to the client: the
 * `anthropic-ratelimit-unified-*` headers on each successful `/v1/messages`, the 429 that refuses
 * a request over a cap, and the body of `GET /api/oauth/usage`.
 *
 * When several caps apply, one is described (the "binding" cap): an exceeded cap beats one that
 * is not; among exceeded caps the one that resets last (the block lasts that long); otherwise the
 * fullest. Utilization is spent / cap (1 for a zero cap). While a request is allowed the reported
 * utilization is kept below 1 (at most 0.99); the client shows its usage notice once
 * `surpassed-threshold` reports 0.75 and again at 0.95. A threshold counts as surpassed once spend
 * reaches it (inclusive, as the spend alerts count it). On a streamed reply the spend described
 * includes what the request itself has cost by the time its headers go out (the input side
 * reported in `message_start`, lib/spend/accounting.ts), so the request that crosses a threshold
 * is the one that says so.
 */
import type { Period } from '../metering/periods.js'

/** One capped budget as seen at a moment. Amounts in cents (fractional spend allowed). */
export interface CapState {
  readonly period: Period
  readonly capCents: number
  readonly spentCents: number
  /** Which scope set the cap; `group_pool` for a pooled group budget. */
  readonly scope: string
  /** When the bucket resets, ms since the epoch. */
  readonly resetsAt: number
}

export const exceeded = (s: CapState): boolean => s.spentCents >= s.capCents
export const utilization = (s: CapState): number => s.capCents > 0 ? s.spentCents / s.capCents : 1

/** Utilization as reported: two decimals, below 1 while allowed. */
function reported (s: CapState): number {
  const u = Math.round(utilization(s) * 100) / 100
  return exceeded(s) ? u : Math.min(u, 0.99)
}

/** The cap to describe when several apply (null for none). */
export function binding<T extends CapState> (states: readonly T[]): T | null {
  let best: T | null = null
  for (const s of states) {
    if (best === null) { best = s; continue }
    const be = exceeded(best)
    const se = exceeded(s)
    if (be !== se) { if (se) best = s; continue }
    if (be) { if (!(best.resetsAt > s.resetsAt)) best = s; continue }
    if (!(utilization(best) > utilization(s))) best = s
  }
  return best
}

/** Headers describing `s`: the success set while allowed, the 429 set once exceeded. */
export function limitHeaders (s: CapState, now: number): Record<string, string> {
  const reset = String(Math.floor(s.resetsAt / 1000))
  const over = exceeded(s)
  // Inclusive, like the spend alerts (alerts.ts `reached`): spend at exactly 75% has crossed 0.75.
  const threshold = over ? 1 : s.spentCents * 100 >= s.capCents * 95 ? 0.95 : s.spentCents * 100 >= s.capCents * 75 ? 0.75 : undefined
  const status = over ? 'rejected' : threshold !== undefined ? 'allowed_warning' : 'allowed'
  const h: Record<string, string> = {
    'anthropic-ratelimit-unified-status': status,
    'anthropic-ratelimit-unified-reset': reset,
    'anthropic-ratelimit-unified-overage-reset': reset,
    'anthropic-ratelimit-unified-overage-utilization': String(reported(s)),
  }
  if (threshold !== undefined) h['anthropic-ratelimit-unified-overage-surpassed-threshold'] = String(threshold)
  if (over) {
    h['anthropic-ratelimit-unified-overage-period'] = s.period
    if (s.scope === 'group_pool') h['anthropic-ratelimit-unified-overage-scope'] = 'group_pool'
    h['anthropic-ratelimit-unified-overage-disabled-reason'] = 'org_spend_cap_reached'
    h['retry-after'] = String(Math.max(1, Math.ceil((s.resetsAt - now) / 1000)))
  } else {
    h['anthropic-ratelimit-unified-representative-claim'] = 'overage'
    h['anthropic-ratelimit-unified-overage-status'] = status
  }
  return h
}

const MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December']

/** `admin.blocked_message` appended after ` · `, as the protocol page shows. */
export function withBlockedMessage (message: string, blockedMessage: string | undefined): string {
  return blockedMessage === undefined || blockedMessage === '' ? message : `${message.replace(/\.$/, '')} · ${blockedMessage}`
}

/**
 * The 429 message for an exceeded cap: one sentence the CLI prints as is, saying when the cap
 * resets. A zero cap never resets into anything, so it gets no date.
 */
export function blockedMessage (s: CapState, blocked: string | undefined): string {
  const d = new Date(s.resetsAt)
  const when = `${(MONTHS[d.getUTCMonth()] as string).slice(0, 3)} ${d.getUTCDate()}`
  let msg: string
  if (s.scope === 'group_pool') msg = `your group's shared budget is used up · resets ${when} ${d.toISOString().slice(11, 16)} UTC`
  else if (s.capCents === 0) msg = 'spend limit reached'
  else msg = `spend limit reached · resets ${when}`
  return withBlockedMessage(msg, blocked)
}

/** Headers of the fail-closed 429 (the spend store could not be read). */
export const FETCH_ERROR_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'anthropic-ratelimit-unified-overage-disabled-reason': 'fetch_error',
})

/** `GET /api/oauth/usage` for a capped principal: the binding cap in `extra_usage`, one row per cap. */
export function usageBody (states: readonly CapState[]): Record<string, unknown> {
  const top = binding(states)
  const body: Record<string, unknown> = {}
  if (top !== null) {
    body.extra_usage = {
      is_enabled: true,
      monthly_limit: top.capCents,
      used_credits: Math.floor(top.spentCents),
      utilization: Math.round(reported(top) * 100),
      currency: 'USD',
    }
  }
  body.limits = states.map((s) => {
    const u = utilization(s)
    return {
      kind: 'spend',
      group: s.period,
      percent: Math.round(reported(s) * 100),
      resets_at: new Date(s.resetsAt).toISOString(),
      severity: exceeded(s) || u > 0.95 ? 'critical' : u > 0.75 ? 'warning' : 'normal',
      is_active: s === top,
    }
  })
  return body
}

/** `GET /api/oauth/usage` for an uncapped principal: spend so far this day, week and month, in whole cents. */
export function uncappedUsageBody (daily: number, weekly: number, monthly: number): Record<string, unknown> {
  return {
    extra_usage: {
      is_enabled: true,
      monthly_limit: null,
      used_credits: Math.floor(monthly),
      utilization: null,
      currency: 'USD',
      daily: { limit: null, used_credits: Math.floor(daily), utilization: null },
      weekly: { limit: null, used_credits: Math.floor(weekly), utilization: null },
    },
    limits: [],
  }
}
