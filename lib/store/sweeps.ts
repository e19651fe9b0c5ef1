/**
 * Background deletes that keep the store from growing without bound.
 *
 * - Expired `kv` rows, every 30 s.
 * - Retention, at start and hourly: admin audit rows older than `audit_retention_days`, spend
 *   buckets (per principal, pooled per group, and per model) not updated for `spend_retention_months`,
 *   hourly usage (`usage_hours`, the report ledger), its organization and IdP group sums (`usage_org_hours`, `usage_org_days`, `usage_group_days`) and Claude Code analytics days
 *   (`claude_code_daily`, then its organization sums and active developers `claude_code_org_days`,
 *   `claude_code_day_principals`, which its triggers already empty for the days deleted, so these
 *   find only what a partial run left) older than the same window, minute usage (`usage_minutes`) older than
 *   MINUTE_DETAIL_DAYS,
 *   spend alerts and their webhook deliveries created longer ago than the same window, and
 *   identity rows not updated for `identity_retention_days`.
 *
 * Deletes go in batches of 10,000 rows, at most 50 batches per table per run, each batch its own
 * short transaction under a 30 s statement timeout, so a large backlog never holds locks for long
 * and is worked off over several runs.
 *
 * Lock order (no deadlock with the writers): a batch of a table with a `lockOrder` locks its rows
 * (SELECT … ORDER BY key FOR UPDATE) in the order its writers' sorted upserts lock them, in the
 * columns' own collation, before deleting them (which then waits on no row). `principal_emails`
 * is locked by principal, as the identity batch (lib/metering/ledger.ts) and sign-in
 * (lib/session/store.ts) lock it; its triggers (migration 0020) take advisory lock 7301020
 * exclusive only after the statement's last row lock, and each of these writers is its
 * transaction's only principal_emails statement, so a holder of that lock never waits on a
 * principal_emails row. `usage_group_days` is locked in key order, as the flush writes it, and
 * under that advisory lock shared, as the flush takes it: the triggered moves write it in several
 * passes (old groups, new groups, emptied rows), an order no key order could follow, so the sweep
 * waits for them instead. The other tables are deleted in physical order: their writers upsert
 * current buckets, not ones past the retention window. A role without DELETE on a table (SQLSTATE 42501) gets one
 * warning per table for the life of the process and the other tables are still swept.
 */
import { ops, describeError } from '../log.js'
import type { Sql } from './db.js'

/** Days of minute-level usage detail kept (1m report buckets; lib/reports/params.ts refuses older). */
export const MINUTE_DETAIL_DAYS = 31

/** Retention windows, from the `admin:` config block. A value that is not a positive number disables that sweep. */
export interface RetentionSettings {
  auditRetentionDays: number
  spendRetentionMonths: number
  identityRetentionDays: number
}

/** Rows deleted by one {@link sweepRetention} run. */
export interface RetentionResult { audit: number, spend: number, identity: number }

/** Rows per delete statement. */
export const SWEEP_BATCH = 10_000
/** Batches per table per run. */
export const SWEEP_MAX_BATCHES = 50
const STATEMENT_TIMEOUT_MS = '30000'

const warnedTables = new Set<string>()

type Cutoff = { days: number } | { months: number }

/** One table's retention rule: rows whose `column` is older than the cutoff go. */
interface Rule {
  table: 'admin_audit' | 'spend' | 'pooled_spend' | 'spend_by_model' | 'usage_minutes' | 'usage_hours' | 'usage_org_hours' | 'usage_org_days' | 'usage_group_days' | 'claude_code_daily' | 'claude_code_org_days' | 'claude_code_day_principals' | 'principal_emails' | 'spend_alerts' | 'alert_deliveries'
  column: 'at' | 'updated_at' | 'created_at' | 'minute' | 'hour' | 'day'
  cutoff: Cutoff
  /** Lock the batch's rows in this key order before deleting them (see the header); else physical order. */
  lockOrder?: readonly string[]
  /** Take advisory lock 7301020 shared first, as a flush does (usage_group_days, migration 0020). */
  groupLock?: true
}

const IDENTITY_ORDER = ['principal'] as const
const GROUP_DAY_ORDER = ['day', 'idp_group', 'model', 'upstream', 'long_context', 'fast'] as const

/** Delete one batch; returns the number of rows removed. */
async function deleteBatch (sql: Sql, rule: Rule): Promise<number> {
  const { days, months } = { days: 0, months: 0, ...rule.cutoff }
  return await sql.begin(async (tx) => {
    await tx`select set_config('statement_timeout', ${STATEMENT_TIMEOUT_MS}, true)`
    if (rule.groupLock === true) await tx`select pg_advisory_xact_lock_shared(7301020)`
    const before = tx`now() - make_interval(months => ${months}::int, days => ${days}::int)`
    const order = rule.lockOrder === undefined ? tx`` : tx`order by ${tx([...rule.lockOrder])}`
    const lock = rule.lockOrder === undefined ? tx`` : tx`for update`
    const res = await tx`
      delete from ${tx(rule.table)} where ctid = any(array(
        select ctid from ${tx(rule.table)} where ${tx(rule.column)} < ${before} ${order} limit ${SWEEP_BATCH} ${lock}
      ))`
    return res.count
  })
}

/** Run a rule's batches until a short batch or the batch limit. 42501 warns once and counts 0. */
async function sweepTable (sql: Sql, rule: Rule): Promise<number> {
  let total = 0
  try {
    for (let i = 0; i < SWEEP_MAX_BATCHES; i++) {
      const n = await deleteBatch(sql, rule)
      total += n
      if (n < SWEEP_BATCH) break
    }
  } catch (err) {
    if ((err as { code?: unknown }).code !== '42501') throw err
    if (!warnedTables.has(rule.table)) {
      warnedTables.add(rule.table)
      ops.warn(`retention sweep skipped for ${rule.table}: the database role may not delete from it (${describeError(err)})`)
    }
  }
  return total
}

const positive = (n: number): boolean => typeof n === 'number' && Number.isFinite(n) && n > 0

/** Delete every expired `kv` row (in batches). Returns the number deleted. */
export async function sweepExpiredKv (sql: Sql): Promise<number> {
  let total = 0
  for (let i = 0; i < SWEEP_MAX_BATCHES; i++) {
    const res = await sql`
      delete from kv where ctid = any(array(
        select ctid from kv where expires_at <= now() limit ${SWEEP_BATCH}
      ))`
    total += res.count
    if (res.count < SWEEP_BATCH) break
  }
  return total
}

/** One retention pass over every table. Non-permission errors propagate after the tables before them were swept. */
export async function sweepRetention (sql: Sql, s: RetentionSettings): Promise<RetentionResult> {
  const out: RetentionResult = { audit: 0, spend: 0, identity: 0 }
  if (positive(s.auditRetentionDays)) {
    out.audit = await sweepTable(sql, { table: 'admin_audit', column: 'at', cutoff: { days: Math.floor(s.auditRetentionDays) } })
  }
  if (positive(s.spendRetentionMonths)) {
    const cutoff = { months: Math.floor(s.spendRetentionMonths) }
    out.spend = await sweepTable(sql, { table: 'spend', column: 'updated_at', cutoff }) +
      await sweepTable(sql, { table: 'pooled_spend', column: 'updated_at', cutoff }) +
      await sweepTable(sql, { table: 'spend_by_model', column: 'updated_at', cutoff }) +
      await sweepTable(sql, { table: 'usage_minutes', column: 'minute', cutoff: { days: MINUTE_DETAIL_DAYS } }) +
      await sweepTable(sql, { table: 'usage_hours', column: 'hour', cutoff }) +
      await sweepTable(sql, { table: 'usage_org_hours', column: 'hour', cutoff }) +
      await sweepTable(sql, { table: 'usage_org_days', column: 'day', cutoff }) +
      await sweepTable(sql, { table: 'usage_group_days', column: 'day', cutoff, lockOrder: GROUP_DAY_ORDER, groupLock: true }) +
      await sweepTable(sql, { table: 'claude_code_daily', column: 'day', cutoff }) +
      await sweepTable(sql, { table: 'claude_code_org_days', column: 'day', cutoff }) +
      await sweepTable(sql, { table: 'claude_code_day_principals', column: 'day', cutoff }) +
      await sweepTable(sql, { table: 'spend_alerts', column: 'created_at', cutoff }) +
      await sweepTable(sql, { table: 'alert_deliveries', column: 'created_at', cutoff })
  }
  if (positive(s.identityRetentionDays)) {
    out.identity = await sweepTable(sql, { table: 'principal_emails', column: 'updated_at', cutoff: { days: Math.floor(s.identityRetentionDays) }, lockOrder: IDENTITY_ORDER })
  }
  return out
}

/** Options for {@link startSweeps}; the intervals exist for tests. */
export interface SweepSchedule extends RetentionSettings {
  /** Milliseconds between kv expiry sweeps (default 30 s). */
  kvIntervalMs?: number
  /** Milliseconds between retention sweeps (default 1 h). */
  retentionIntervalMs?: number
  /** Set false to run only the kv sweep (no `admin:` block configured). Default true. */
  retention?: boolean
}

/**
 * Start the background sweeps: kv expiry every 30 s, retention now and then hourly. Timers are
 * unref'd so they never keep the process alive; a run never overlaps the previous one of its kind;
 * failures are logged with ops.warn and retried on the next tick. `stop()` cancels future runs.
 */
export function startSweeps (sql: Sql, settings: SweepSchedule): { stop(): void } {
  let stopped = false
  const timers: NodeJS.Timeout[] = []
  const every = (name: string, ms: number, job: () => Promise<unknown>, runNow: boolean): void => {
    let running = false
    const tick = (): void => {
      if (stopped || running) return
      running = true
      job().catch((err: unknown) => { ops.warn(`${name} sweep failed: ${describeError(err)}`) })
        .finally(() => { running = false })
    }
    const t = setInterval(tick, ms)
    t.unref()
    timers.push(t)
    if (runNow) tick()
  }
  every('kv expiry', settings.kvIntervalMs ?? 30_000, async () => await sweepExpiredKv(sql), false)
  if (settings.retention !== false) {
    every('retention', settings.retentionIntervalMs ?? 3_600_000, async () => {
      const r = await sweepRetention(sql, settings)
      if (r.audit + r.spend + r.identity > 0) ops.info(`retention sweep removed ${r.audit} audit, ${r.spend} spend and ${r.identity} identity rows`)
    }, true)
  }
  return {
    stop () {
      stopped = true
      for (const t of timers) clearInterval(t)
    },
  }
}
