/**
 * Validation of admin API input. Every problem becomes one 400 message `<path>: <what is wrong>`
 * naming the first bad field in document order (scope, amount, force, period, currency,
 * pooled_budget); unknown keys are ignored, as the Admin API does. Weir extensions: `scope.email`
 * on a user scope (instead of `user_id`) and a top-level boolean `force`.
 */
import { isPeriod, type Period } from '../metering/periods.js'
import type { ScopeType } from './shapes.js'

const CENTS = /^\d{1,18}$/
/** Loose on purpose: enough to tell an email from a subject, the IdP decides what is valid. */
export const EMAIL = /^[^\s@]+@[^\s@]+$/
export const CENTS_MESSAGE = 'must be a whole-number decimal string of cents'

export interface UpsertBody {
  /**
   * A user scope names its subject (`id`) or, as a Weir extension, an `email` that the service
   * resolves to the one subject Weir has seen with it (then `id` is '').
   */
  readonly scope: { readonly type: ScopeType, readonly id: string, readonly email?: string }
  /** Weir extension: set a user cap even when no principal with that subject has been seen. */
  readonly force: boolean
  /** undefined: not given (keep the stored amount); null: explicitly unlimited. */
  readonly amount: string | null | undefined
  readonly period: Period
  readonly pooled: { readonly amount: string | null | undefined, readonly paused: boolean | null | undefined } | null | undefined
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)

function cents (v: unknown, path: string): string | null | undefined {
  if (v === undefined || v === null) return v
  if (typeof v !== 'string' || !CENTS.test(v)) throw new Invalid(`${path}: ${CENTS_MESSAGE}`)
  return v
}

class Invalid extends Error {}

function scopeOf (v: unknown): UpsertBody['scope'] {
  if (v === undefined) throw new Invalid('scope: Required')
  if (!isObj(v)) throw new Invalid('scope: must be an object')
  const need = (key: string): string => {
    const id = v[key]
    if (id === undefined) throw new Invalid(`scope.${key}: Required`)
    if (typeof id !== 'string' || id === '') throw new Invalid(`scope.${key}: must be a non-empty string`)
    return id
  }
  switch (v.type) {
    case 'user': {
      if (v.email === undefined) return { type: 'user', id: need('user_id') }
      if (v.user_id !== undefined) throw new Invalid('scope: give user_id or email, not both')
      if (typeof v.email !== 'string' || !EMAIL.test(v.email)) throw new Invalid('scope.email: must be an email address (name@domain)')
      return { type: 'user', id: '', email: v.email }
    }
    case 'rbac_group': return { type: 'rbac_group', id: need('rbac_group_id') }
    case 'organization': return { type: 'organization', id: '' }
    default: throw new Invalid('scope.type: must be one of user, rbac_group, organization')
  }
}

/** Parse a POST body. Returns the body or the 400 message. */
export function parseUpsert (text: string): UpsertBody | string {
  let raw: unknown
  try { raw = JSON.parse(text) } catch { return 'invalid JSON body' }
  try {
    if (!isObj(raw)) throw new Invalid('request body: must be a JSON object')
    const scope = scopeOf(raw.scope)
    const amount = cents(raw.amount, 'amount')
    const force = raw.force ?? false
    if (typeof force !== 'boolean') throw new Invalid('force: must be true or false')
    const period = raw.period ?? 'monthly'
    if (!isPeriod(period)) throw new Invalid('period: must be one of daily, weekly, monthly')
    if (raw.currency !== undefined && raw.currency !== 'USD') throw new Invalid('currency: must be USD')
    let pooled: UpsertBody['pooled']
    const pb = raw.pooled_budget
    if (pb === undefined || pb === null) pooled = pb
    else {
      if (!isObj(pb)) throw new Invalid('pooled_budget: must be an object or null')
      const pAmount = cents(pb.amount, 'pooled_budget.amount')
      const paused = pb.paused
      if (paused !== undefined && paused !== null && typeof paused !== 'boolean') throw new Invalid('pooled_budget.paused: must be true, false or null')
      if (pb.currency !== undefined && pb.currency !== 'USD') throw new Invalid('pooled_budget.currency: must be USD')
      pooled = { amount: pAmount, paused }
    }
    return { scope, force, amount, period, pooled }
  } catch (err) {
    if (err instanceof Invalid) return err.message
    throw err
  }
}

/** `limit`: 1–1000, `fallback` when absent; null when invalid. */
export function parseLimit (q: URLSearchParams, fallback: number): number | null {
  const v = q.get('limit')
  if (v === null) return fallback
  if (!/^\d{1,4}$/.test(v)) return null
  const n = Number(v)
  return n >= 1 && n <= 1000 ? n : null
}

export const LIMIT_MESSAGE = 'limit: must be between 1 and 1000'
