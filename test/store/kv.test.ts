import t from 'tap'
import { kvDelete, kvGet, kvIncr, kvSet, kvTake } from '../../lib/store/kv.js'
import { freshDatabase } from '../helpers/pg.js'

const { sql } = await freshDatabase(t, { migrate: true, max: 10 })
const sleep = async (ms: number): Promise<void> => await new Promise((resolve) => setTimeout(resolve, ms))
/** Move a row's expiry into the past, as if its TTL had run out. */
const expire = async (key: string): Promise<void> => { await sql`update kv set expires_at = now() - interval '1 second' where key = ${key}` }

t.test('set, get, overwrite, delete', async (t) => {
  t.equal(await kvGet(sql, 'a'), null)
  await kvSet(sql, 'a', 'one')
  t.equal(await kvGet(sql, 'a'), 'one')
  const [row] = await sql`select expires_at from kv where key = 'a'`
  t.equal(row?.expires_at, null, 'no ttl: never expires')
  await kvSet(sql, 'a', 'two', 60)
  t.equal(await kvGet(sql, 'a'), 'two', 'upsert replaces the value')
  const [row2] = await sql<Array<{ s: number }>>`select extract(epoch from expires_at - now())::float8 as s from kv where key = 'a'`
  t.ok(row2 !== undefined && row2.s > 58 && row2.s <= 60, 'ttl applied on overwrite')
  await kvSet(sql, 'a', 'three')
  const [row3] = await sql`select expires_at from kv where key = 'a'`
  t.equal(row3?.expires_at, null, 'overwrite without ttl clears the expiry')
  t.equal(await kvDelete(sql, 'a'), true)
  t.equal(await kvGet(sql, 'a'), null)
  t.equal(await kvDelete(sql, 'a'), false, 'deleting a missing key')
  await kvSet(sql, 'unicode', 'ünïcødé ✓ \u0001')
  t.equal(await kvGet(sql, 'unicode'), 'ünïcødé ✓ \u0001')
})

t.test('expired rows read as absent before any sweep', async (t) => {
  await kvSet(sql, 'short', 'v', 0.05)
  t.equal(await kvGet(sql, 'short'), 'v')
  await sleep(80)
  t.equal(await kvGet(sql, 'short'), null, 'real ttl ran out')
  const [still] = await sql`select count(*)::int as n from kv where key = 'short'`
  t.equal(still?.n, 1, 'row still present until swept')
  t.equal(await kvTake(sql, 'short'), null, 'take ignores it')
  t.equal(await kvDelete(sql, 'short'), false, 'delete reports it was not live')
  await kvSet(sql, 'gone', 'v', 30)
  await expire('gone')
  t.equal(await kvGet(sql, 'gone'), null)
})

t.test('bad ttl values are refused', async (t) => {
  await t.rejects(kvSet(sql, 'x', 'v', 0), RangeError)
  await t.rejects(kvSet(sql, 'x', 'v', -5), RangeError)
  await t.rejects(kvSet(sql, 'x', 'v', Number.NaN), RangeError)
  await t.rejects(kvIncr(sql, 'x', 0), RangeError)
  await t.rejects(kvIncr(sql, 'x', undefined as unknown as number), /needs a window/)
})

t.test('take returns the value once, even under a race', async (t) => {
  await kvSet(sql, 'once', 'secret', 60)
  t.equal(await kvTake(sql, 'once'), 'secret')
  t.equal(await kvTake(sql, 'once'), null)
  t.equal(await kvGet(sql, 'once'), null)
  await kvSet(sql, 'race', 'prize', 60)
  const results = await Promise.all(Array.from({ length: 10 }, async () => await kvTake(sql, 'race')))
  t.same(results.filter((r) => r !== null), ['prize'], 'exactly one caller wins')
})

t.test('incr counts within a fixed window and keeps its expiry', async (t) => {
  const first = await kvIncr(sql, 'rl:a', 60)
  t.equal(first.count, 1)
  t.ok(first.resetAt instanceof Date)
  const ahead = first.resetAt.getTime() - Date.now()
  t.ok(ahead > 55_000 && ahead <= 61_000, `window ends ~60 s ahead (${ahead} ms)`)
  const second = await kvIncr(sql, 'rl:a', 60)
  const third = await kvIncr(sql, 'rl:a', 3600)
  t.equal(second.count, 2)
  t.equal(third.count, 3)
  t.equal(second.resetAt.getTime(), first.resetAt.getTime(), 'expiry kept')
  t.equal(third.resetAt.getTime(), first.resetAt.getTime(), 'a different window size does not move it')
  t.equal(await kvGet(sql, 'rl:a'), '3', 'stored as text')
})

t.test('incr starts a new window after expiry', async (t) => {
  const a = await kvIncr(sql, 'rl:b', 60)
  await kvIncr(sql, 'rl:b', 60)
  await expire('rl:b')
  const b = await kvIncr(sql, 'rl:b', 60)
  t.equal(b.count, 1, 'reset to 1')
  t.ok(b.resetAt.getTime() >= a.resetAt.getTime(), 'new expiry')
  t.equal((await kvIncr(sql, 'rl:b', 60)).count, 2)
  await kvIncr(sql, 'rl:short', 0.05)
  await sleep(80)
  t.equal((await kvIncr(sql, 'rl:short', 0.05)).count, 1, 'real expiry resets too')
})

t.test('incr over a non-counter row starts a fresh window', async (t) => {
  await kvSet(sql, 'rl:c', 'not a number', 60)
  t.equal((await kvIncr(sql, 'rl:c', 60)).count, 1)
  await kvSet(sql, 'rl:d', '5')
  const d = await kvIncr(sql, 'rl:d', 60)
  t.equal(d.count, 1, 'a row without expiry is not a counter')
  t.ok(d.resetAt.getTime() > Date.now())
})

t.test('concurrent increments are never lost', async (t) => {
  const counts = await Promise.all(Array.from({ length: 40 }, async () => (await kvIncr(sql, 'rl:many', 60)).count))
  t.same([...counts].sort((x, y) => x - y), Array.from({ length: 40 }, (_v, i) => i + 1))
})
