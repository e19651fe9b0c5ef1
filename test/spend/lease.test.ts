/**
 * The lease statement (migration 0012) against a real Postgres: grant sizes, freshness, the
 * partial-remainder rule, expiry, metering's draw-down, and no over-grant under concurrency.
 */
import t from 'tap'
import { writeLedger } from '../../lib/metering/ledger.js'
import { leaseBudget, type LeaseArgs } from '../../lib/spend/store.js'
import { freshDatabase } from '../helpers/pg.js'

const CAP = 100 // cents = 100,000,000 micro-cents
const base = (over: Partial<LeaseArgs>): LeaseArgs => ({
  kind: 'u', subject: 'alice', bucket: '2026-08', holder: 'h1', epoch: 'e1', limitId: 'spl_cap', amount: String(CAP),
  want: 8_000_000, need: 1_000_000, partialOk: false, ttlMs: 8000, ...over,
})

t.test('lease statement', async (t) => {
  const { sql } = await freshDatabase(t, { migrate: true, max: 12 })
  await sql`insert into spend_limits (id, scope_type, scope_id, amount, period) values ('spl_cap', 'user', 'alice', ${CAP}, 'monthly')`
  const held = async (): Promise<number> => Number((await sql`select coalesce(sum(micro_cents), 0)::text as s from spend_leases where subject = 'alice' and expires_at > now()`)[0]?.s)

  await t.test('grants what is wanted while there is room, at most a quarter of it', async (t) => {
    const a = await leaseBudget(sql, base({}))
    t.match(a, { granted: 8_000_000, spent: 0, others: 0, held: 8_000_000, fresh: true })
    const b = await leaseBudget(sql, base({ want: 1e9 }))
    t.equal(b.granted, 23_000_000, 'a quarter of the 92,000,000 still free')
    t.equal(b.held, 31_000_000, 'the same epoch adds up')
    const c = await leaseBudget(sql, base({ epoch: 'e2', want: 0, need: 0 }))
    t.equal(c.held, 0, 'a new epoch starts from nothing')
  })

  await t.test('a cap that changed or went away grants nothing', async (t) => {
    t.match(await leaseBudget(sql, base({ amount: '99' })), { granted: 0, fresh: false })
    t.match(await leaseBudget(sql, base({ limitId: 'spl_gone' })), { granted: 0, fresh: false })
  })

  await t.test('the last remainder goes to one request only when nobody else holds any', async (t) => {
    await sql`delete from spend_leases`
    const big = await leaseBudget(sql, base({ holder: 'h1', want: 1e9, need: 96_000_000 }))
    t.equal(big.granted, 96_000_000, 'a need larger than a quarter is granted whole')
    const refused = await leaseBudget(sql, base({ holder: 'h2', need: 5_000_000, partialOk: true }))
    t.match(refused, { granted: 0, others: 96_000_000 }, 'another holder holds budget: no partial grant')
    await sql`update spend_leases set expires_at = now() - interval '1 second' where holder = 'h1'`
    const last = await leaseBudget(sql, base({ holder: 'h2', epoch: 'e9', need: 200_000_000, partialOk: true }))
    t.equal(last.granted, 100_000_000, 'expired leases free their budget; the remainder is granted')
    const none = await leaseBudget(sql, base({ holder: 'h3', need: 1, partialOk: true }))
    t.equal(none.granted, 0)
  })

  await t.test('metering moves cost from the lease to spent in one transaction', async (t) => {
    await sql`delete from spend_leases`
    await leaseBudget(sql, base({ holder: 'h1', epoch: 'x', want: 10_000_000, need: 10_000_000 }))
    await writeLedger(sql, { keys: ['alice'], buckets: ['2026-08'], micro: [6_000_000] }, { keys: [], buckets: [], micro: [] },
      [['u', 'alice', '2026-08', 'h1', 'x', 6_000_000], ['u', 'alice', '2026-08', 'h1', 'stale-epoch', 1_000_000]])
    const [row] = await sql`select micro_cents::text as m, cents from spend where principal = 'alice' and period = '2026-08'`
    t.equal(row?.m, '6000000')
    t.equal(row?.cents, 6, 'the reference-compatible cents column follows')
    t.equal(await held(), 4_000_000, 'only the matching epoch is drawn down')
    const r = await leaseBudget(sql, base({ holder: 'h2', want: 0, need: 0 }))
    t.equal(r.spent, 6_000_000)
    t.equal(r.others, 4_000_000)
  })

  await t.test('concurrent holders never lease more than the cap leaves', async (t) => {
    await sql`delete from spend_leases`
    await sql`delete from spend`
    const calls: Array<Promise<{ granted: number }>> = []
    for (let h = 0; h < 10; h++) {
      for (let i = 0; i < 8; i++) calls.push(leaseBudget(sql, base({ holder: `c${h}`, epoch: 'e', need: 3_000_000, want: 3_000_000, partialOk: true })))
    }
    const granted = (await Promise.all(calls)).reduce((s, r) => s + r.granted, 0)
    t.ok(granted <= 100_000_000, `granted ${granted} of 100,000,000`)
    t.equal(await held(), granted, 'the rows agree')
    t.ok(granted >= 90_000_000, 'and most of it was handed out')
  })
})
