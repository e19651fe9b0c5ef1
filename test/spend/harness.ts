/**
 * Spend control in one thread, for tests: the primary module (caps feed, lease RPCs, meter on the
 * real pool) and a worker's SpendAccounting side by side. In the main thread `callPrimary` runs
 * handlers directly and `broadcast`/`sendToPrimary` deliver locally, so this is the same code path
 * as a gateway, minus HTTP and thread hops.
 */
import type { Test } from 'tap'
import { stringify } from 'yaml'
import { parseConfig } from '../../lib/config/load.js'
import { callPrimary } from '../../lib/ipc.js'
import type { AdmitRequest, Outcome } from '../../lib/proxy/accounting.js'
import { emptyUsage, type Usage } from '../../lib/proxy/sse-usage.js'
import type { Principal } from '../../lib/session/token.js'
import { SpendAccounting } from '../../lib/spend/accounting.js'
import { startSpend } from '../../lib/spend/module.js'
import type { Sql } from '../../lib/store/db.js'
import { baseConfig } from '../helpers/gateway.js'

export interface Harness {
  acct: SpendAccounting
  clock: { now: number }
  /** Insert (or replace) a cap row and wait until the accounting has it. */
  cap (row: { scope_type: string, scope_id?: string, amount: number | null, period?: string, pooled?: number }): Promise<void>
  stop (): Promise<void>
}

export async function startHarness (t: Test, sql: Sql, dbUrl: string, more?: (c: Record<string, any>) => void, start = Date.now()): Promise<Harness> { // eslint-disable-line @typescript-eslint/no-explicit-any
  const cfg = baseConfig('https://idp.example.com', dbUrl)
  cfg.admin = { write_keys: [{ id: 'w', key: 'w'.repeat(40) }] }
  more?.(cfg)
  const loaded = parseConfig(stringify(cfg), 'gateway.yaml', {})
  const mod = await startSpend({ sql, loaded })
  const clock = { now: start }
  const acct = new SpendAccounting(loaded.config, { clock: () => clock.now }).listen()
  acct.setCaps(await callPrimary('spend.caps', {}))
  let n = 0
  let stopped = false
  const stop = async (): Promise<void> => {
    if (stopped) return
    stopped = true
    acct.close()
    await mod?.stop()
  }
  t.teardown(stop)
  return {
    acct,
    clock,
    stop,
    cap: async (r) => {
      const id = `spl_${String(++n).padStart(32, '0')}`
      await sql`delete from spend_limits where scope_type = ${r.scope_type} and scope_id = ${r.scope_id ?? ''} and period = ${r.period ?? 'monthly'}`
      await sql`insert into spend_limits (id, scope_type, scope_id, amount, period, pooled_limit_enabled, pooled_monthly_credit_limit)
        values (${id}, ${r.scope_type}, ${r.scope_id ?? ''}, ${r.amount}, ${r.period ?? 'monthly'}, ${r.pooled !== undefined}, ${r.pooled ?? null})`
      for (let i = 0; i < 200; i++) {
        const m = await callPrimary('spend.caps', {})
        if (m.rows.some((x) => x.id === id)) { acct.setCaps(m); return }
        await new Promise((resolve) => setTimeout(resolve, 10))
      }
      throw new Error('the cap never reached the accounting')
    },
  }
}

export const who = (sub: string, groups: string[] = []): Principal => ({ sub, email: `${sub}@example.com`, name: sub, groups, iat: 0, exp: 0 })

/** A request whose worst case is about 2.25 cents on Haiku 4.5 (10 kB body, 100 output tokens). */
export const REQ: AdmitRequest = { model: 'claude-haiku-4-5', family: 'haiku45', maxTokens: 100, bodyBytes: 10_000, billingGroup: undefined, requestId: 'req-1' }

/** Exactly one cent on Haiku 4.5: 10,000 input tokens at $1/MTok. */
export function oneCent (over: Partial<Usage> = {}): Usage {
  return { ...emptyUsage(), input_tokens: 10_000, ...over }
}

export function outcome (usage: Usage | null, over: Partial<Outcome> = {}): Outcome {
  return {
    requestId: 'req-1', upstream: 'mock', provider: 'mock', upstreamModel: 'claude-haiku-4-5-20251001', clientModel: 'claude-haiku-4-5', family: 'haiku45',
    status: 200, usage, estimatedOutputTokens: 0, aborted: false, billingGroup: undefined, ...over,
  }
}

/** Poll `fn` until it returns a truthy value (bounded: a hang guard of 30 s for loaded 2-core machines). */
export async function eventually<T> (fn: () => Promise<T>, what: string, ms = 30_000): Promise<T> {
  const until = Date.now() + ms
  for (;;) {
    const v = await fn()
    if (v) return v
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

/** Exact spend of `sub` in `bucket`, micro-cents. */
export async function spent (sql: Sql, sub: string, bucket: string): Promise<number> {
  const [r] = await sql`select micro_cents::text as m from spend where principal = ${sub} and period = ${bucket}`
  return Number(r?.m ?? 0)
}
