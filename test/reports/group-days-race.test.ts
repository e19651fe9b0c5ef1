/**
 * The per-group day sums under concurrency: metering flushes (ledger rows under the shared
 * identity lock), identity batches of the flush (`recordIdentities`, many rows), single sign-ins
 * (`recordPrincipal`) and the identity retention sweep run at once over the same few developers,
 * whose groups keep changing. Guarantees checked: no writer ever fails, a deadlock (40P01)
 * included — nothing is run again: the identity batch, the sweep and the test's own ageing of
 * identity rows all lock several identity rows, each in principal order, and the group-move
 * triggers take advisory lock 7301020 only after a statement's last row lock, so no wait cycle can
 * form; afterwards `usage_group_days` holds exactly what the per-developer hours give under each
 * developer's current groups, to the micro-cent. Without the flush's shared lock this fails (sums
 * off); with the sweep deleting in physical order (its old way) it saw 0–8 deadlocks a run.
 */
import t from 'tap'
import { writeUsage } from '../../lib/reports/ledger.js'
import { recordIdentities } from '../../lib/metering/ledger.js'
import { recordPrincipal } from '../../lib/session/store.js'
import { sweepRetention } from '../../lib/store/sweeps.js'
import type { UsageRow } from '../../lib/metering/usage.js'
import type { Sql } from '../../lib/store/db.js'
import { freshDatabase } from '../helpers/pg.js'
import { prng } from '../helpers/prng.js'

const START = Date.parse('2026-03-01T00:00:00Z')
const PEOPLE = Array.from({ length: 10 }, (_x, i) => `r${i}`)
const GROUPS = ['eng', 'ml', 'ops', 'sales']
const WIDTH = 13

function groupsOf (rand: () => number): string[] {
  return GROUPS.filter(() => rand() < 0.4)
}

/** One flush's minute rows: one per key, as lib/metering/usage.ts hands them over. */
function flushRows (rand: () => number): UsageRow[] {
  const byKey = new Map<string, UsageRow>()
  for (let i = 0; i < 12; i++) {
    const principal = PEOPLE[Math.floor(rand() * PEOPLE.length)] as string
    const minute = START + Math.floor(rand() * 3 * 1440) * 60_000
    const model = rand() < 0.5 ? 'claude-sonnet-4-5' : 'claude-haiku-4-5'
    const k = `${minute}|${principal}|${model}`
    const v = Array.from({ length: WIDTH }, (_x, j) => j === 0 ? 1 : Math.floor(rand() * 1e9))
    const had = byKey.get(k)
    byKey.set(k, had === undefined ? { minute, principal, model, upstream: 'anthropic', long: false, fast: false, v } : { ...had, v: had.v.map((x, j) => x + (v[j] as number)) })
  }
  return [...byKey.values()]
}

const COLS = ['requests', 'input_tokens', 'output_tokens', 'cache_read_tokens', 'cache_write_5m_tokens', 'cache_write_1h_tokens', 'web_search_requests',
  'input_micro_cents', 'output_micro_cents', 'cache_read_micro_cents', 'cache_write_5m_micro_cents', 'cache_write_1h_micro_cents', 'web_search_micro_cents']

/** usage_group_days as it is, and as the hours and current identities say it should be. */
async function compare (sql: Sql): Promise<{ kept: string[], expected: string[] }> {
  const sums = COLS.map((c) => `sum(${c})::text`).join(', ')
  const kept = await sql.unsafe(`
    select day, idp_group, model, ${sums} from usage_group_days group by 1, 2, 3
    having ${COLS.map((c) => `sum(${c}) <> 0`).join(' or ')} order by 1, 2, 3`)
  const expected = await sql.unsafe(`
    select date_trunc('day', h.hour, 'UTC') as day, n.name as idp_group, h.model, ${COLS.map((c) => `sum(h.${c})::text`).join(', ')}
    from usage_hours h left join principal_emails e on e.principal = h.principal
    cross join lateral weir_usage_group_names(e.groups) as n(name)
    group by 1, 2, 3 order by 1, 2, 3`)
  const line = (r: Record<string, unknown>): string => JSON.stringify(Object.values(r).map((x) => x instanceof Date ? x.toISOString() : x))
  return { kept: (kept as unknown as Array<Record<string, unknown>>).map(line), expected: (expected as unknown as Array<Record<string, unknown>>).map(line) }
}

t.test('flushes, identity batches, sign-ins and the identity sweep at once: no deadlock, sums exact', async (t) => {
  const { sql } = await freshDatabase(t, { migrate: true, max: 8 })
  const rand = prng(7_301_020)
  const failures: string[] = []
  let deadlocks = 0
  const guard = async (what: string, fn: () => Promise<unknown>): Promise<void> => {
    try { await fn() } catch (err) {
      const code = (err as { code?: string }).code ?? ''
      if (code === '40P01') deadlocks++
      failures.push(`${what}: ${code} ${(err as Error).message} ${(err as { detail?: string }).detail ?? ''}`.trim())
    }
  }
  const ROUNDS = 40
  const flusher = async (): Promise<void> => {
    for (let i = 0; i < ROUNDS; i++) {
      const batch = flushRows(rand)
      await guard('flush', async () => await sql.begin(async (tx) => { await writeUsage(tx as unknown as Sql, batch) }))
    }
  }
  const batcher = async (): Promise<void> => {
    for (let i = 0; i < ROUNDS; i++) {
      const who = PEOPLE.filter(() => rand() < 0.6)
      await guard('identity batch', async () => { await recordIdentities(sql, who.map((sub) => ({ sub, email: `${sub}@example.com`, name: sub, groups: groupsOf(rand) }))) })
    }
  }
  const signer = async (): Promise<void> => {
    for (let i = 0; i < ROUNDS * 2; i++) {
      const sub = PEOPLE[Math.floor(rand() * PEOPLE.length)] as string
      await guard('sign-in', async () => { await recordPrincipal(sql, { sub, email: `${sub}@example.com`, groups: groupsOf(rand) }) })
    }
  }
  const sweeper = async (): Promise<void> => {
    for (let i = 0; i < ROUNDS / 4; i++) {
      const who = PEOPLE.filter(() => rand() < 0.3)
      await guard('age identities', async () => await sql.begin(async (tx) => {
        // Only the rows locked in order: one a batch inserted since would be locked out of order.
        const locked = await tx`select principal from principal_emails where principal = any(${who}::text[]) order by principal for update`
        await tx`update principal_emails set updated_at = now() - interval '400 days' where principal = any(${locked.map((r) => r.principal as string)}::text[])`
      }))
      await guard('identity sweep', async () => { await sweepRetention(sql, { auditRetentionDays: 0, spendRetentionMonths: 0, identityRetentionDays: 90 }) })
    }
  }
  await Promise.all([flusher(), flusher(), batcher(), batcher(), signer(), signer(), sweeper()])
  t.equal(deadlocks, 0, 'no deadlock (40P01)')
  t.same(failures, [], 'no writer failed')
  const { kept, expected } = await compare(sql)
  t.ok(expected.length > 10, `the hours hold data to compare (${expected.length} day × group × model rows)`)
  t.same(kept, expected, 'usage_group_days equals the hours under current groups, to the micro-cent')
})
