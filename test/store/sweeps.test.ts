import t from 'tap'
import { setLogSink } from '../../lib/log.js'
import { openPool } from '../../lib/store/db.js'
import { kvGet, kvSet } from '../../lib/store/kv.js'
import { SWEEP_BATCH, startSweeps, sweepExpiredKv, sweepRetention } from '../../lib/store/sweeps.js'
import { freePort, freshDatabase } from '../helpers/pg.js'

const RETENTION = { auditRetentionDays: 365, spendRetentionMonths: 13, identityRetentionDays: 90 }
const sleep = async (ms: number): Promise<void> => await new Promise((resolve) => setTimeout(resolve, ms))

function captureLogs (t: { teardown(fn: () => void): void }): string[] {
  const lines: string[] = []
  setLogSink((l) => { lines.push(l) })
  t.teardown(() => setLogSink(undefined))
  return lines
}

t.test('expired kv rows are deleted, live and permanent ones kept', async (t) => {
  const { sql } = await freshDatabase(t, { migrate: true })
  await kvSet(sql, 'live', 'x', 60)
  await kvSet(sql, 'forever', 'x')
  await sql`insert into kv (key, value, expires_at) select 'old:' || g, 'x', now() - interval '1 minute' from generate_series(1, 25) g`
  t.equal(await sweepExpiredKv(sql), 25)
  t.equal(await sweepExpiredKv(sql), 0)
  const keys = await sql<Array<{ key: string }>>`select key from kv order by key`
  t.same(keys.map((r) => r.key), ['forever', 'live'])
})

t.test('kv expiry works through batches larger than one', async (t) => {
  const { sql } = await freshDatabase(t, { migrate: true })
  const n = SWEEP_BATCH * 2 + 5
  await sql`insert into kv (key, value, expires_at) select 'old:' || g, 'x', now() - interval '1 second' from generate_series(1, ${n}::int) g`
  t.equal(await sweepExpiredKv(sql), n)
})

t.test('retention removes old rows from each table and keeps fresh ones', async (t) => {
  const { sql } = await freshDatabase(t, { migrate: true })
  await sql`insert into admin_audit (at, actor, action, target) values
    (now() - interval '400 days', 'a', 'old', 't'), (now() - interval '364 days', 'a', 'recent', 't'), (now(), 'a', 'new', 't')`
  await sql`insert into spend (principal, period, cents, updated_at) values
    ('u1', '2020-01', 5, now() - interval '14 months'), ('u1', '2021-01', 5, now() - interval '12 months'), ('u2', '2021-02', 1, now())`
  await sql`insert into pooled_spend (rbac_group_id, period, cents, updated_at) values
    ('eng', '2020-01', 5, now() - interval '2 years'), ('eng', '2024-01', 5, now())`
  await sql`insert into principal_emails (principal, email, updated_at) values
    ('p-old', 'old@example.com', now() - interval '91 days'), ('p-new', 'new@example.com', now() - interval '89 days')`
  await sql`insert into kv (key, value, expires_at) values ('untouched', 'x', now() - interval '1 day')`
  await sql`insert into spend_alerts (kind, subject, period, threshold_bp, cap_id, cap_scope, cap_cents, spent_micro_cents, created_at) values
    ('u', 'u1', '2020-01', 7500, 'c', 'user', 100, 75000000, now() - interval '14 months'), ('u', 'u2', '2021-02', 7500, 'c', 'user', 100, 75000000, now())`
  await sql`insert into alert_deliveries (webhook, payload, state, created_at) values
    ('ops', '{}'::jsonb, 'dead', now() - interval '14 months'), ('ops', '{}'::jsonb, 'pending', now())`

  t.same(await sweepRetention(sql, RETENTION), { audit: 1, spend: 4, identity: 1 })
  t.same((await sql`select subject from spend_alerts`).map((r) => r.subject), ['u2'], 'spend alerts follow spend retention')
  t.same((await sql`select state from alert_deliveries`).map((r) => r.state), ['pending'], 'and so do their deliveries')
  t.same((await sql`select action from admin_audit order by id`).map((r) => r.action), ['recent', 'new'])
  t.same((await sql`select period from spend order by period`).map((r) => r.period), ['2021-01', '2021-02'])
  t.same((await sql`select period from pooled_spend`).map((r) => r.period), ['2024-01'])
  t.same((await sql`select principal from principal_emails`).map((r) => r.principal), ['p-new'])
  t.equal((await sql`select count(*)::int as n from kv`)[0]?.n, 1, 'retention leaves kv to its own sweep')
  t.same(await sweepRetention(sql, RETENTION), { audit: 0, spend: 0, identity: 0 }, 'second pass finds nothing')
})

t.test('retention sweeps the report tables: usage_minutes after 31 days, usage_hours and claude_code_daily with the spend window', async (t) => {
  const { sql } = await freshDatabase(t, { migrate: true })
  await sql`insert into usage_minutes (minute, principal, model, requests, updated_at) values
    (date_trunc('minute', now() - interval '32 days'), 'u1', 'm', 1, now()),
    (date_trunc('minute', now() - interval '30 days'), 'u1', 'm', 1, now() - interval '14 months'),
    (date_trunc('minute', now()), 'u2', 'm', 1, now())`
  await sql`insert into usage_hours (hour, principal, model, requests, updated_at) values
    (date_trunc('hour', now() - interval '14 months'), 'u1', 'm', 1, now()),
    (date_trunc('hour', now() - interval '12 months'), 'u1', 'm', 1, now() - interval '14 months')`
  t.same(await sweepRetention(sql, RETENTION), { audit: 0, spend: 2, identity: 0 })
  t.same((await sql`select principal from usage_minutes order by minute`).map((r) => r.principal), ['u1', 'u2'], 'minute detail is kept 31 days, whatever its updated_at')
  t.same((await sql`select count(*)::int as n from usage_hours`)[0]?.n, 1, 'hours follow the spend window')
  await sql`insert into claude_code_daily (day, principal, metric, value) values
    ((now() - interval '14 months')::date, 'u1', 'commit.count', 1), ((now() - interval '12 months')::date, 'u1', 'commit.count', 1)`
  t.same(await sweepRetention(sql, RETENTION), { audit: 0, spend: 1, identity: 0 }, 'and the Claude Code analytics days, by day')
  t.same((await sql`select count(*)::int as n from claude_code_daily`)[0]?.n, 1)
  t.same(await sweepRetention(sql, { ...RETENTION, spendRetentionMonths: 0 }), { audit: 0, spend: 0, identity: 0 })
})

t.test('retention deletes in batches and a window of 0 disables a table', async (t) => {
  const { sql } = await freshDatabase(t, { migrate: true })
  const n = SWEEP_BATCH + 123
  await sql`insert into spend (principal, period, cents, updated_at) select 'u' || g, '2000-01', 1, now() - interval '3 years' from generate_series(1, ${n}::int) g`
  await sql`insert into admin_audit (at, actor, action, target) values (now() - interval '10 years', 'a', 'b', 'c')`
  t.same(await sweepRetention(sql, { auditRetentionDays: 0, spendRetentionMonths: 13, identityRetentionDays: Number.NaN }), { audit: 0, spend: n, identity: 0 })
  t.equal((await sql`select count(*)::int as n from admin_audit`)[0]?.n, 1)
})

t.test('a table the role may not delete from warns once and the rest is still swept', async (t) => {
  const logs = captureLogs(t)
  const { sql, url, name } = await freshDatabase(t, { migrate: true })
  const role = `weir_sw_${name.slice(-8)}`
  await sql.unsafe(`create role ${role} login password 'pw-${role}'`)
  const u = new URL(url)
  u.username = role
  u.password = `pw-${role}`
  const limited = openPool({ postgres_url: u.toString(), max_connections: 2 })
  try {
    await sql.unsafe(`grant select, insert, update, delete on all tables in schema public to ${role}`)
    await sql.unsafe(`revoke delete on admin_audit from ${role}`)
    await sql`insert into admin_audit (at, actor, action, target) values (now() - interval '2 years', 'a', 'b', 'c')`
    await sql`insert into principal_emails (principal, updated_at) values ('p', now() - interval '1 year')`
    t.same(await sweepRetention(limited, RETENTION), { audit: 0, spend: 0, identity: 1 })
    t.same(await sweepRetention(limited, RETENTION), { audit: 0, spend: 0, identity: 0 })
    const warnings = logs.filter((l) => l.includes(' warn ') && l.includes('admin_audit'))
    t.equal(warnings.length, 1, 'one warning for the table')
    t.match(warnings[0], /retention sweep skipped for admin_audit/)
  } finally {
    await limited.end({ timeout: 1 })
    await sql.unsafe(`drop owned by ${role}`)
    await sql.unsafe(`drop role ${role}`)
  }
})

t.test('other errors propagate', async (t) => {
  const { sql } = await freshDatabase(t)
  await t.rejects(sweepRetention(sql, RETENTION), { code: '42P01' })
  await t.rejects(sweepExpiredKv(sql), { code: '42P01' })
})

t.test('startSweeps runs retention at once and kv expiry on its interval, until stopped', async (t) => {
  const { sql } = await freshDatabase(t, { migrate: true })
  const logs = captureLogs(t)
  await sql`insert into admin_audit (at, actor, action, target) values (now() - interval '2 years', 'a', 'b', 'c')`
  await kvSet(sql, 'soon', 'x', 0.05)
  const sweeps = startSweeps(sql, { ...RETENTION, kvIntervalMs: 100 })
  t.teardown(() => { sweeps.stop() })
  const deadline = Date.now() + 5000
  while (Date.now() < deadline) {
    const [row] = await sql<Array<{ a: number, k: number }>>`select (select count(*)::int from admin_audit) as a, (select count(*)::int from kv) as k`
    if (row?.a === 0 && row.k === 0 && logs.some((l) => l.includes('retention sweep removed'))) break
    await sleep(25)
  }
  t.equal((await sql`select count(*)::int as n from admin_audit`)[0]?.n, 0, 'retention ran at start')
  t.equal((await sql`select count(*)::int as n from kv`)[0]?.n, 0, 'expired kv swept')
  t.ok(logs.some((l) => l.includes('retention sweep removed 1 audit')), 'logged what it removed')
  sweeps.stop()
  await kvSet(sql, 'later', 'x', 0.01)
  await sleep(250)
  t.equal(await kvGet(sql, 'later'), null, 'expired')
  t.equal((await sql`select count(*)::int as n from kv`)[0]?.n, 1, 'no sweep after stop()')
})

t.test('startSweeps without retention only expires kv', async (t) => {
  const { sql } = await freshDatabase(t, { migrate: true })
  await sql`insert into admin_audit (at, actor, action, target) values (now() - interval '2 years', 'a', 'b', 'c')`
  const sweeps = startSweeps(sql, { ...RETENTION, retention: false, kvIntervalMs: 30 })
  await sleep(120)
  sweeps.stop()
  t.equal((await sql`select count(*)::int as n from admin_audit`)[0]?.n, 1)
})

t.test('sweep failures are logged, never thrown', async (t) => {
  const logs = captureLogs(t)
  const port = await freePort()
  const dead = openPool({ postgres_url: `postgres://a:b@127.0.0.1:${port}/x`, max_connections: 1 })
  t.teardown(() => dead.end({ timeout: 0 }))
  const sweeps = startSweeps(dead, { ...RETENTION, kvIntervalMs: 40, retentionIntervalMs: 60_000 })
  const deadline = Date.now() + 5000
  while (Date.now() < deadline && !(logs.some((l) => l.includes('kv expiry sweep failed')) && logs.some((l) => l.includes('retention sweep failed')))) await sleep(20)
  sweeps.stop()
  t.ok(logs.some((l) => / warn kv expiry sweep failed: .*ECONNREFUSED/.test(l)))
  t.ok(logs.some((l) => / warn retention sweep failed: .*ECONNREFUSED/.test(l)))
})
