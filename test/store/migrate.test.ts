import t, { type Test } from 'tap'
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import postgres from 'postgres'
import { BootError } from '../../lib/errors.js'
import { setLogSink } from '../../lib/log.js'
import { openPool } from '../../lib/store/db.js'
import { MIGRATION_LOCK_KEY, listMigrations, migrate } from '../../lib/store/migrate.js'
import { ROOT } from '../../lib/version.js'
import { freshDatabase } from '../helpers/pg.js'

const ALL = listMigrations().map((m) => m.version)

function captureLogs (t: Test): string[] {
  const lines: string[] = []
  setLogSink((l) => { lines.push(l) })
  t.teardown(() => setLogSink(undefined))
  return lines
}

function tempMigrations (t: Test, files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'weir-mig-'))
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text)
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

t.test('listMigrations finds numbered files in order, starting at 1 with no gaps', async (t) => {
  const list = listMigrations()
  t.ok(list.length >= 8)
  t.same(list.map((m) => m.version), list.map((_m, i) => i + 1))
  t.match(list[0], { version: 1, name: 'kv', file: /migrations\/0001_kv\.sql$/ })
  const dir = tempMigrations(t, { '0002_b.sql': 'select 1', '0001_a.sql': 'select 1', 'README.md': 'x', '12_short.sql': 'x' })
  t.same(listMigrations(dir).map((m) => [m.version, m.name]), [[1, 'a'], [2, 'b']])
  t.throws(() => listMigrations(tempMigrations(t, { '0001_a.sql': '', '0001_b.sql': '' })), /two migrations share version 1/)
  t.throws(() => listMigrations(tempMigrations(t, { '0000_zero.sql': '' })), /start at 0001/)
})

t.test('a fresh database gets every migration, logged and recorded once', async (t) => {
  const logs = captureLogs(t)
  const { sql } = await freshDatabase(t)
  t.same(await migrate(sql), ALL)
  for (const v of ALL) t.ok(logs.some((l) => l.includes(` info migration ${v} applied`)), `logged ${v}`)
  const rows = await sql<Array<{ version: number, applied_at: Date }>>`select version, applied_at from _migrations order by version`
  t.same(rows.map((r) => r.version), ALL)
  t.ok(rows.every((r) => r.applied_at instanceof Date))
  t.same(await migrate(sql), [], 'second run applies nothing')
  const [count] = await sql<Array<{ n: number }>>`select count(*)::int as n from _migrations`
  t.equal(count?.n, ALL.length)
  const [lock] = await sql<Array<{ n: number }>>`select count(*)::int as n from pg_locks where locktype = 'advisory' and objid = ${MIGRATION_LOCK_KEY}`
  t.equal(lock?.n, 0, 'advisory lock released')
})

t.test('the reference tables keep their names and columns; Weir adds only its own', async (t) => {
  const { sql } = await freshDatabase(t, { migrate: true })
  const cols = await sql<Array<{ table_name: string, column_name: string, data_type: string, is_nullable: string }>>`
    select table_name, column_name, data_type, is_nullable from information_schema.columns
    where table_schema = 'public' order by table_name, ordinal_position`
  const shape: Record<string, string[]> = {}
  for (const c of cols) (shape[c.table_name] ??= []).push(`${c.column_name} ${c.data_type}${c.is_nullable === 'NO' ? ' not null' : ''}`)
  // The reference 2.1.328 tables: same names, same columns in the same order (Weir may append).
  const reference: Record<string, string[]> = {
    _migrations: ['version integer not null', 'applied_at timestamp with time zone not null'],
    admin_audit: ['id bigint not null', 'at timestamp with time zone not null', 'actor text not null', 'action text not null', 'target text not null', 'before jsonb', 'after jsonb', 'reason text'],
    kv: ['key text not null', 'value text not null', 'expires_at timestamp with time zone'],
    pooled_spend: ['rbac_group_id text not null', 'period text not null', 'cents double precision not null', 'updated_at timestamp with time zone not null'],
    principal_emails: ['principal text not null', 'email text', 'name text', 'groups jsonb', 'updated_at timestamp with time zone not null'],
    principal_groups: ['day text not null', 'principal text not null', 'groups jsonb not null'],
    spend: ['principal text not null', 'period text not null', 'cents double precision not null', 'updated_at timestamp with time zone not null'],
    spend_limits: ['id text not null', 'scope_type text not null', 'scope_id text not null', 'amount bigint', 'period text not null', 'currency text not null', 'created_at timestamp with time zone not null', 'updated_at timestamp with time zone not null', 'created_by text', 'pooled_limit_enabled boolean not null', 'pooled_monthly_credit_limit bigint'],
  }
  for (const [table, want] of Object.entries(reference)) t.same(shape[table]?.slice(0, want.length), want, table)
  t.same(shape.spend?.slice(4), ['micro_cents bigint not null'], 'spend gains only the exact ledger column')
  t.same(shape.pooled_spend?.slice(4), ['micro_cents bigint not null'])
  t.same(Object.keys(shape).filter((k) => !(k in reference)).sort(), ['alert_deliveries', 'claude_code_daily', 'claude_code_day_people', 'claude_code_day_principals', 'claude_code_org_days', 'claude_code_principal_years', 'principals', 'refresh_token_revocations', 'session_families', 'session_revocations', 'spend_alerts', 'spend_by_model', 'spend_leases', 'usage_group_days', 'usage_hours', 'usage_minutes', 'usage_org_days', 'usage_org_hours'], "Weir's own tables")
  const idx = (await sql<Array<{ indexname: string }>>`select indexname from pg_indexes where schemaname = 'public' order by 1`).map((r) => r.indexname)
  for (const name of ['_migrations_pkey', 'admin_audit_at', 'admin_audit_pkey', 'kv_expires_at', 'kv_pkey', 'pooled_spend_pkey', 'principal_emails_pkey',
    'principal_emails_updated_at', 'principal_groups_pkey', 'spend_limits_pkey', 'spend_limits_scope', 'spend_period_cents', 'spend_pkey', 'spend_updated_at']) {
    t.ok(idx.includes(name), `reference index ${name}`)
  }
  const fns = (await sql<Array<{ proname: string }>>`select proname from pg_proc p join pg_namespace s on s.oid = p.pronamespace where s.nspname = 'public' order by 1`).map((r) => r.proname)
  t.same(fns, ['weir_claude_code_active_days', 'weir_claude_code_rollup', 'weir_notify_session_revocations', 'weir_notify_spend_limits', 'weir_spend_lease', 'weir_usage_group_days_move', 'weir_usage_group_days_regroup', 'weir_usage_group_names'], 'only Weir-prefixed functions')
  const cons = await sql<Array<{ conname: string }>>`select conname from pg_constraint where conrelid = 'spend_limits'::regclass and contype = 'c' order by 1`
  t.same(cons.map((r) => r.conname), ['spend_limits_currency_check', 'spend_limits_period_check', 'spend_limits_pooled_amount_requires_group', 'spend_limits_pooled_requires_limit', 'spend_limits_scope_type_check'])

  const bad = async (q: Promise<unknown>): Promise<string | undefined> => await q.then(() => undefined, (e: { constraint_name?: string }) => e.constraint_name)
  t.equal(await bad(sql`insert into spend_limits (id, scope_type) values ('a', 'team')`), 'spend_limits_scope_type_check')
  t.equal(await bad(sql`insert into spend_limits (id, scope_type, period) values ('a', 'user', 'yearly')`), 'spend_limits_period_check')
  t.equal(await bad(sql`insert into spend_limits (id, scope_type, currency) values ('a', 'user', 'EUR')`), 'spend_limits_currency_check')
  t.equal(await bad(sql`insert into spend_limits (id, scope_type, pooled_monthly_credit_limit) values ('a', 'user', 5)`), 'spend_limits_pooled_amount_requires_group')
  t.equal(await bad(sql`insert into spend_limits (id, scope_type, pooled_limit_enabled) values ('a', 'rbac_group', true)`), 'spend_limits_pooled_requires_limit')
  await sql`insert into spend_limits (id, scope_type, scope_id, pooled_limit_enabled, pooled_monthly_credit_limit) values ('b', 'rbac_group', 'eng', true, 100000)`
  const [row] = await sql`select period, currency, amount from spend_limits where id = 'b'`
  t.same(row, { period: 'monthly', currency: 'USD', amount: null })
  t.equal(await bad(sql`insert into spend_limits (id, scope_type, scope_id) values ('c', 'rbac_group', 'eng')`), 'spend_limits_scope')
  const [audit] = await sql<Array<{ id: string }>>`insert into admin_audit (actor, action, target) values ('a', 'b', 'c') returning id`
  t.equal(audit?.id, '1', 'identity ids start at 1')
})

t.test('versions this binary does not know are ignored (rollback)', async (t) => {
  const { sql } = await freshDatabase(t, { migrate: true })
  const future = ALL.length + 100
  await sql`insert into _migrations (version) values (${future})`
  t.same(await migrate(sql), [])
  const rows = await sql<Array<{ version: number }>>`select version from _migrations order by version`
  t.same(rows.map((r) => r.version), [...ALL, future])
})

t.test('a database created by the reference schema is adopted: later versions apply on top', async (t) => {
  const { sql } = await freshDatabase(t)
  const dir = tempMigrations(t, { '0001_one.sql': 'create table one (x int)', '0002_two.sql': 'create table two (x int)', '0003_three.sql': 'create table three (x int)' })
  await sql`create table _migrations (version integer primary key, applied_at timestamptz not null default now())`
  await sql`create table one (x int)`
  await sql`insert into _migrations (version) values (1)`
  t.same(await migrate(sql, { dir }), [2, 3])
})

t.test('a failing migration rolls back alone and names its file', async (t) => {
  const { sql } = await freshDatabase(t)
  const dir = tempMigrations(t, {
    '0001_ok.sql': 'create table ok_one (x int);',
    '0002_broken.sql': 'create table half (x int);\nselect * from no_such_table;',
    '0003_later.sql': 'create table later (x int);',
  })
  const err = await migrate(sql, { dir }).then(() => null, (e: unknown) => e)
  t.ok(err instanceof BootError)
  t.match((err as BootError).lines[0], /^migration 2 \(.*0002_broken\.sql\) failed: .*no_such_table/)
  const tables = await sql<Array<{ t: string }>>`select table_name as t from information_schema.tables where table_schema = 'public' order by 1`
  t.same(tables.map((r) => r.t), ['_migrations', 'ok_one'], 'first applied, second rolled back, third not tried')
  const versions = await sql<Array<{ version: number }>>`select version from _migrations`
  t.same(versions.map((r) => r.version), [1])
  const [lock] = await sql<Array<{ n: number }>>`select count(*)::int as n from pg_locks where locktype = 'advisory'`
  t.equal(lock?.n, 0, 'lock released after the failure')
})

t.test('a replica waits for the lock another one holds, then finds nothing to do', async (t) => {
  const logs = captureLogs(t)
  const { sql, url } = await freshDatabase(t)
  const other = postgres(url, { max: 1, onnotice: () => {} })
  t.teardown(() => other.end({ timeout: 1 }))
  const holder = await other.reserve()
  await holder`select pg_advisory_lock(${MIGRATION_LOCK_KEY})`
  const pending = migrate(sql)
  const deadline = Date.now() + 5000
  while (!logs.some((l) => l.includes('waiting for migration lock')) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
  t.ok(logs.some((l) => l.includes(' info waiting for migration lock')), 'logged the wait')
  await holder`select pg_advisory_unlock(${MIGRATION_LOCK_KEY})`
  holder.release()
  t.same(await pending, ALL)
})

t.test('a role without CREATE gets a clear error, and works on a pre-created schema', async (t) => {
  const { sql, url, name } = await freshDatabase(t)
  const role = `weir_ro_${name.slice(-8)}`
  await sql.unsafe(`create role ${role} login password 'pw-${role}'`)
  const u = new URL(url)
  u.username = role
  u.password = `pw-${role}`
  const limited = openPool({ postgres_url: u.toString(), max_connections: 2 })
  try {
    await sql.unsafe('revoke create on schema public from public')
    const err = await migrate(limited).then(() => null, (e: unknown) => e)
    t.ok(err instanceof BootError)
    t.match((err as BootError).lines.join('\n'), /permission denied.*\n.*pre-create the schema/)

    t.same(await migrate(sql), ALL, 'an admin role migrates')
    await sql.unsafe(`grant select, insert, update, delete on all tables in schema public to ${role}`)
    t.same(await migrate(limited), [], 'the limited role then boots without DDL')
  } finally {
    await limited.end({ timeout: 1 })
    await sql.unsafe(`drop owned by ${role}`)
    await sql.unsafe(`drop role ${role}`)
  }
})

t.test('an unreachable database is a BootError', async (t) => {
  const { freePort } = await import('../helpers/pg.js')
  const dead = openPool({ postgres_url: `postgres://a:b@127.0.0.1:${await freePort()}/x`, max_connections: 1 })
  t.teardown(() => dead.end({ timeout: 0 }))
  const err = await migrate(dead).then(() => null, (e: unknown) => e)
  t.ok(err instanceof BootError)
  t.match((err as BootError).lines[0], /^database migrations failed: .*ECONNREFUSED/)
})

t.test('two processes migrating one fresh database apply each version exactly once', async (t) => {
  const { url, sql } = await freshDatabase(t)
  const mod = (p: string): string => pathToFileURL(join(ROOT, 'dist', 'lib', 'store', p)).href
  const script = `
    const { openPool } = await import(${JSON.stringify(mod('db.js'))})
    const { migrate } = await import(${JSON.stringify(mod('migrate.js'))})
    const sql = openPool({ postgres_url: process.env.URL, max_connections: 2 })
    const applied = await migrate(sql)
    await sql.end({ timeout: 1 })
    process.stdout.write(JSON.stringify(applied))`
  const run = async (): Promise<{ code: number | null, out: string, err: string }> => await new Promise((resolve) => {
    const c = spawn(process.execPath, ['--input-type=module', '-e', script], { env: { ...process.env, URL: url, NODE_OPTIONS: '' }, stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    c.stdout.on('data', (d: Buffer) => { out += d.toString() })
    c.stderr.on('data', (d: Buffer) => { err += d.toString() })
    c.on('close', (code) => resolve({ code, out, err }))
  })
  const [a, b] = await Promise.all([run(), run()])
  t.equal(a.code, 0, a.err)
  t.equal(b.code, 0, b.err)
  const applied = [...JSON.parse(a.out) as number[], ...JSON.parse(b.out) as number[]].sort((x, y) => x - y)
  t.same(applied, ALL, 'every version applied by exactly one process')
  const rows = await sql<Array<{ version: number }>>`select version from _migrations order by version`
  t.same(rows.map((r) => r.version), ALL)
})
