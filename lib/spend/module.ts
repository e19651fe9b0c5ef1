/**
 * Spend control's primary module (workers/primary-modules.ts): everything spend does next to the
 * database, for every HTTP worker of this replica.
 *
 *   - the cap table: loaded, kept current with LISTEN/NOTIFY and pushed to workers (cap-feed.ts);
 *   - RPCs: `spend.lease` (the atomic lease statement, under the pre-check deadline),
 *     `spend.release` (unused leases returned), `spend.caps` and `spend.usageFor`
 *     (`GET /api/oauth/usage`); the admin API is its own module (lib/admin/module.ts), which reads
 *     the cap table through `caps`;
 *   - metering: usage batches from the workers go through the Meter (lib/metering/meter.ts),
 *     which prices them on the shared Piscina pool and writes the ledger in batched upserts;
 *   - spend alerts: each ledger write's totals are checked against the caps (alerts.ts) and the
 *     alerts' webhook deliveries are sent from the outbox (alert-delivery.ts);
 *   - upkeep: expired lease rows are deleted every minute.
 * Without an `admin:` block nothing starts (no caps, no metering, no admin API).
 *
 * `reload(loaded)` applies a reloaded `pricing` (and a changed model list's exactness warnings):
 * usage batches that arrive afterwards are priced with it, those already queued keep the pricing
 * they arrived under. The cap rules and alert delivery are fixed at boot (lib/config/diff.ts).
 *
 * `stop()` runs after the workers drained: it writes every usage record they sent (their exit
 * hooks send what is left) and their returned leases, then releases the pool.
 */
import { fileURLToPath } from 'node:url'
import { isDeepStrictEqual } from 'node:util'
import type { LoadedConfig } from '../config/load.js'
import { onEvent, registerRpc } from '../ipc.js'
import { describeError, ops } from '../log.js'
import type { Sql } from '../store/db.js'
import { acquirePrimaryPool } from '../workers-pool.js'
import { Meter } from '../metering/meter.js'
import type { Aggregate, AggregateTask } from '../metering/task.js'
import type { UsageBatch } from '../metering/records.js'
import { USAGE_EVENT } from '../metering/outbox.js'
import { AlertDelivery } from './alert-delivery.js'
import { SpendAlerts } from './alerts.js'
import { CapFeed } from './cap-feed.js'
import type { CapBook, PoolRules } from './caps.js'
import { uncappedUsageBody, usageBody, type CapState } from './headers.js'
import { EXIT_EVENT, IDENTITY_EVENT } from './link.js'
import { bucketsAt, periodIndex } from '../metering/periods.js'
import { meterPricing, Pricer } from '../metering/pricing.js'
import { SPEND_RPC_MAP } from './rpc-map.js'
import { PRECHECK_DEADLINE_MS, leaseBudget, pruneLeases, releaseLeases, spentIn, withDeadline } from './store.js'
import type { LeaseDelta, Seen } from '../metering/charges.js'

const TASK_FILE = fileURLToPath(new URL('../metering/task.js', import.meta.url))

const deltas = (v: unknown): LeaseDelta[] => Array.isArray(v) ? v.filter((d): d is LeaseDelta => Array.isArray(d) && d.length === 6) : []

/** `GET /api/oauth/usage` for one principal. */
async function usageFor (sql: Sql, feed: CapFeed, rules: PoolRules, sub: string, groups: string[]): Promise<unknown> {
  const now = Date.now()
  const bk = bucketsAt(now)
  const spent = await withDeadline(spentIn(sql, sub, bk.keys), PRECHECK_DEADLINE_MS, 'spend usage read')
  const caps = feed.book.resolve(sub, groups, rules).caps
  if (caps.length === 0) return uncappedUsageBody((spent[0] ?? 0) / 1e6, (spent[1] ?? 0) / 1e6, (spent[2] ?? 0) / 1e6)
  const states: CapState[] = caps.map((c) => {
    const i = periodIndex(c.period)
    return { period: c.period, capCents: c.cents, spentCents: (spent[i] ?? 0) / 1e6, scope: c.scope, resetsAt: bk.resets[i] }
  })
  return usageBody(states)
}

/** A started spend module: stop, reload, and the live cap table for the admin module. */
export interface SpendModule {
  stop: () => Promise<void>
  reload: (loaded: LoadedConfig) => void
  readonly caps: { readonly book: () => CapBook, readonly rules: PoolRules }
}

export async function startSpend (ctx: { sql: Sql, loaded: LoadedConfig }): Promise<SpendModule | undefined> {
  const { sql } = ctx
  const config = ctx.loaded.config
  const admin = config.admin
  if (admin === undefined) return undefined
  const rules: PoolRules = { mode: admin.group_limit_mode, priority: admin.pooled_conflict_rule === 'priority_list' ? admin.pooled_priority_order : undefined }

  // Warnings for configured models the meter cannot price exactly (Pricer warns once each).
  const warnInexact = (c: LoadedConfig['config']): void => {
    const pricer = new Pricer(meterPricing(c))
    for (const m of c.models ?? []) pricer.resolve(null, null, m.id)
  }
  warnInexact(config)
  let pricing = meterPricing(config)

  const feed = new CapFeed(sql)
  await feed.start()
  const pool = acquirePrimaryPool()
  const alerts = new SpendAlerts(sql, () => feed.book, rules, admin.alerts)
  const delivery = new AlertDelivery(sql, { webhooks: admin.alerts.webhooks, maxAttempts: admin.alerts.max_attempts }).start()
  const meter = new Meter(sql, meterPricing(config), {
    // Batches are copied, not transferred, so a failed task can still be priced inline.
    runTask: async (task: AggregateTask) => await pool.run<Aggregate>(TASK_FILE, 'aggregate', task),
    onTotals: alerts.onTotals,
  }).start()
  const exits: Array<Promise<void>> = []

  registerRpc(SPEND_RPC_MAP, {
    'spend.lease': async (a) => await withDeadline(leaseBudget(sql, a), PRECHECK_DEADLINE_MS, 'spend lease'),
    'spend.release': async (a) => { await releaseLeases(sql, a.list); return null },
    'spend.caps': async (a) => {
      if (a.reload === true) await withDeadline(feed.reload(), PRECHECK_DEADLINE_MS, 'spend caps reload')
      return feed.message()
    },
    'spend.usageFor': async (a) => await usageFor(sql, feed, rules, a.sub, a.groups),
  })
  const offs = [
    onEvent(USAGE_EVENT, (b: UsageBatch) => { meter.add(b) }),
    onEvent(IDENTITY_EVENT, (s: Seen) => { meter.identity(s) }),
    onEvent(EXIT_EVENT, (m: { list?: unknown }) => {
      const p = releaseLeases(sql, deltas(m?.list)).catch((err: unknown) => { ops.warn(`returning a worker's spend leases failed (they expire by themselves): ${describeError(err)}`) })
      exits.push(p)
    }),
  ]
  const prune = setInterval(() => {
    pruneLeases(sql).catch((err: unknown) => { ops.debug(`spend lease prune failed: ${describeError(err)}`) })
  }, 60_000)
  prune.unref()

  return {
    caps: { book: () => feed.book, rules },
    reload: (next: LoadedConfig) => {
      const p = meterPricing(next.config)
      if (isDeepStrictEqual(p, pricing)) return
      pricing = p
      warnInexact(next.config)
      meter.setPricing(p)
      ops.info('spend meter: pricing reloaded; usage that arrives from now on is priced with it')
    },
    stop: async () => {
      clearInterval(prune)
      for (const off of offs) off()
      await Promise.all(exits)
      await meter.stop()
      await alerts.settle()
      alerts.stop()
      await delivery.stop()
      await pool.release()
      await feed.stop()
    },
  }
}
