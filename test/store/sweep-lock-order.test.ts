/**
 * The lock order of the retention sweep (lib/store/sweeps.ts), against real Postgres, made
 * visible by holding one lock the sweep needs and looking at what it holds while it waits:
 * - the identity sweep locks `principal_emails` rows in principal order (the order of the identity
 *   batch's upsert), not in the order they lie on disk;
 * - the `usage_group_days` sweep first takes advisory lock 7301020 shared, so it waits for a
 *   group move (migration 0020's triggers hold it exclusive) instead of interleaving with it.
 */
import t from 'tap'
import { sweepRetention } from '../../lib/store/sweeps.js'
import type { Sql } from '../../lib/store/db.js'
import { freshDatabase } from '../helpers/pg.js'

const sleep = async (ms: number): Promise<void> => await new Promise((resolve) => setTimeout(resolve, ms))

/**
 * Wait until some backend of this test's database waits for a lock of `locktype`; false after
 * 10 s. pg_locks is server-wide (and a transaction-id lock names no database), so the waiter is
 * matched to this database through pg_stat_activity: test files running beside this one on the
 * same server have waits of their own.
 */
async function someoneWaits (sql: Sql, locktype: string): Promise<boolean> {
  const deadline = Date.now() + 10_000
  while (Date.now() < deadline) {
    const [row] = await sql<Array<{ n: number }>>`
      select count(*)::int as n from pg_locks l join pg_stat_activity a on a.pid = l.pid
      where not l.granted and l.locktype = ${locktype} and a.datname = current_database()`
    if ((row?.n ?? 0) > 0) return true
    await sleep(20)
  }
  return false
}

/** Hold what `lock` takes in an open transaction until the returned release is called. */
async function hold (sql: Sql, lock: (tx: Sql) => Promise<unknown>): Promise<{ release: () => void, done: Promise<unknown> }> {
  let release = (): void => {}
  const gate = new Promise<void>((resolve) => { release = resolve })
  let locked = (): void => {}
  const isLocked = new Promise<void>((resolve) => { locked = resolve })
  const done = sql.begin(async (tx) => { await lock(tx as unknown as Sql); locked(); await gate })
  await Promise.race([isLocked, done])
  return { release, done }
}

/** Whether `principal`'s row is locked by someone else now (FOR UPDATE NOWAIT fails with 55P03). */
async function lockedByOther (sql: Sql, principal: string): Promise<boolean> {
  try {
    await sql.begin(async (tx) => { await tx`select 1 from principal_emails where principal = ${principal} for update nowait` })
    return false
  } catch (err) {
    if ((err as { code?: string }).code === '55P03') return true
    throw err
  }
}

t.test('the identity sweep locks the rows it deletes in principal order', async (t) => {
  const { sql } = await freshDatabase(t, { migrate: true, max: 4 })
  // Inserted last-first, so on disk (ctid order) 'e' comes first and 'a' last.
  for (const p of ['e', 'd', 'c', 'b', 'a']) await sql`insert into principal_emails (principal, groups, updated_at) values (${p}, '[]'::jsonb, now() - interval '1 year')`
  const c = await hold(sql, async (tx) => await tx`select 1 from principal_emails where principal = 'c' for update`)
  const sweep = sweepRetention(sql, { auditRetentionDays: 0, spendRetentionMonths: 0, identityRetentionDays: 90 })
  t.ok(await someoneWaits(sql, 'transactionid'), 'the sweep waits for the row held')
  t.same([await lockedByOther(sql, 'a'), await lockedByOther(sql, 'b')], [true, true], 'the rows before it in principal order are locked already')
  t.same([await lockedByOther(sql, 'd'), await lockedByOther(sql, 'e')], [false, false], 'the rows after it are not, though they lie first on disk')
  c.release()
  await c.done
  t.same(await sweep, { audit: 0, spend: 0, identity: 5 }, 'then all five go')
  t.same(await sql`select principal from principal_emails`, [])
})

t.test('the usage_group_days sweep waits for a group move (advisory lock 7301020)', async (t) => {
  const { sql } = await freshDatabase(t, { migrate: true, max: 4 })
  await sql`insert into usage_group_days (day, idp_group, model, requests) values (date_trunc('day', now() - interval '2 years'), 'eng', 'm', 1)`
  const move = await hold(sql, async (tx) => await tx`select pg_advisory_xact_lock(7301020)`)
  let finished = false
  const sweep = sweepRetention(sql, { auditRetentionDays: 0, spendRetentionMonths: 13, identityRetentionDays: 0 }).finally(() => { finished = true })
  t.ok(await someoneWaits(sql, 'advisory'), 'the sweep waits for the lock')
  t.notOk(finished, 'and has not finished')
  t.equal((await sql<Array<{ n: number }>>`select count(*)::int as n from usage_group_days`)[0]?.n, 1, 'the row is still there')
  move.release()
  await move.done
  t.same(await sweep, { audit: 0, spend: 1, identity: 0 }, 'once the move commits the old day goes')
})
