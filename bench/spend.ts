/**
 * What spend control costs per request: `node dist/bench/spend.js [--n 200000] [--repeat 5]`.
 *
 * In one process, against a real Postgres (DATABASE_URL, or a throwaway server started here),
 * with the real primary module (cap feed, lease RPCs, meter on the Piscina pool) and a worker's
 * SpendAccounting, it times admit + headers + settle — everything the hot path calls — for:
 *   none          NO_ACCOUNTING (no `admin:` block): the floor
 *   uncapped      admin configured, caps exist for others, none for this developer
 *   capped        a developer with daily, weekly and monthly caps, admitted from leases
 *   first request each new developers' first request in a period: three lease statements
 *                 (one per capped budget) before it is admitted — the slow path
 * and, separately, one lease statement round trip and metering throughput (records priced on
 * the pool and written to Postgres per second). Prints a Markdown table with ratios to `none`;
 * the figures quoted in bench/SPEND.md come from here.
 */
import { parseArgs } from 'node:util'
import { availableParallelism } from 'node:os'
import { stringify } from 'yaml'
import { parseConfig } from '../lib/config/load.js'
import { callPrimary } from '../lib/ipc.js'
import { NO_ACCOUNTING, type Accounting, type AdmitRequest, type Outcome } from '../lib/proxy/accounting.js'
import { emptyUsage } from '../lib/proxy/sse-usage.js'
import type { Principal } from '../lib/session/token.js'
import { SpendAccounting } from '../lib/spend/accounting.js'
import { startSpend } from '../lib/spend/module.js'
import { fileURLToPath } from 'node:url'
import { BatchBuilder, addUsageRecord, countsOf, type UsageBatch } from '../lib/metering/records.js'
import type { Aggregate } from '../lib/metering/task.js'
import type { Counts } from '../lib/metering/pricing.js'
import { writeLedger } from '../lib/metering/ledger.js'
import { leaseBudget } from '../lib/spend/store.js'
import { acquirePrimaryPool } from '../lib/workers-pool.js'
import { openPool } from '../lib/store/db.js'
import { migrate } from '../lib/store/migrate.js'
import { setLogLevel } from '../lib/log.js'
import { startPostgresServer } from '../test/helpers/pg.js'
import { baseConfig } from '../test/helpers/gateway.js'

const { values } = parseArgs({ options: { n: { type: 'string' }, repeat: { type: 'string' } } })
const N = Number(values.n ?? 200_000)
const REPEAT = Number(values.repeat ?? 5)
setLogLevel('error')

const who = (sub: string, groups = ['eng']): Principal => ({ sub, email: `${sub}@example.com`, name: sub, groups, iat: 0, exp: 0 })
const REQ: AdmitRequest = { model: 'claude-haiku-4-5', family: 'haiku45', maxTokens: 100, bodyBytes: 2000, billingGroup: undefined, requestId: 'r' }
const OUT: Outcome = {
  requestId: 'r', upstream: 'anthropic', provider: 'anthropic', upstreamModel: 'claude-haiku-4-5-20251001', clientModel: 'claude-haiku-4-5', family: 'haiku45',
  status: 200, usage: { ...emptyUsage(), input_tokens: 1000, output_tokens: 50 }, estimatedOutputTokens: 0, aborted: false, billingGroup: undefined,
}

/** ns per admit + headers + settle, over `n` sequential requests. */
async function perRequest (acct: Accounting, p: Principal, n: number): Promise<number> {
  const t0 = process.hrtime.bigint()
  for (let i = 0; i < n; i++) {
    let a = acct.admit(p, REQ)
    if (a instanceof Promise) a = await a
    acct.headers(a)
    acct.settle(a, p, OUT)
  }
  return Number(process.hrtime.bigint() - t0) / n
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number

async function main (): Promise<void> {
  let url = process.env.DATABASE_URL
  const server = url === undefined || url === '' ? await startPostgresServer() : null
  url = server?.url ?? url as string
  const sql = openPool({ postgres_url: url, max_connections: 5 })
  await migrate(sql)
  for (const t of ['spend', 'pooled_spend', 'spend_leases', 'spend_limits', 'principal_emails']) await sql.unsafe(`truncate ${t}`)
  const cfg = baseConfig('https://idp.example.com', url)
  cfg.admin = { write_keys: [{ id: 'w', key: 'w'.repeat(40) }] }
  const loaded = parseConfig(stringify(cfg), 'gateway.yaml', {})
  const mod = await startSpend({ sql, loaded })
  const acct = new SpendAccounting(loaded.config).listen()
  // The same accounting with usage batches discarded instead of metered: the worker thread's own
  // share. (Here everything runs in one process, so the end-to-end rows also pay for pricing and
  // writing on the same two cores; in a gateway that work runs on the primary and its pool.)
  const hot = new SpendAccounting(loaded.config, { ship: () => {} }).listen()
  const caps = async (rows: Array<[string, string, string, number, string]>): Promise<void> => {
    for (const [id, type, scope, amount, period] of rows) await sql`insert into spend_limits (id, scope_type, scope_id, amount, period) values (${id}, ${type}, ${scope}, ${amount}, ${period})`
    for (let i = 0; i < 500; i++) {
      const m = await callPrimary('spend.caps', {})
      if (m.rows.length >= rows.length) { acct.setCaps(m); hot.setCaps(m); return }
      await new Promise((resolve) => setTimeout(resolve, 10))
    }
  }
  await caps([
    ['spl_other', 'user', 'someone-else', 100, 'daily'],
    ['spl_d', 'user', 'capped', 100_000_000, 'daily'], ['spl_w', 'user', 'capped', 100_000_000, 'weekly'], ['spl_m', 'user', 'capped', 100_000_000, 'monthly'],
    ['spl_fd', 'rbac_group', 'fresh', 100_000, 'daily'], ['spl_fw', 'rbac_group', 'fresh', 100_000, 'weekly'], ['spl_fm', 'rbac_group', 'fresh', 100_000, 'monthly'],
  ])

  const rows: Array<{ label: string, ns: number }> = []
  const scenario = async (label: string, acc: Accounting, p: Principal, n: number): Promise<void> => {
    await perRequest(acc, p, Math.min(n, 20_000)) // warm up
    const runs: number[] = []
    for (let r = 0; r < REPEAT; r++) runs.push(await perRequest(acc, p, n))
    rows.push({ label, ns: median(runs) })
  }
  await scenario('none (no admin block)', NO_ACCOUNTING, who('x'), N)
  await scenario('uncapped developer, hot path only', hot, who('uncapped'), N)
  await scenario('capped developer (3 caps, in lease), hot path only', hot, who('capped'), N)
  await scenario('uncapped developer, with metering', acct, who('uncapped'), N)
  await scenario('capped developer (3 caps, in lease), with metering', acct, who('capped'), N)
  const fresh: number[] = []
  for (let r = 0; r < REPEAT; r++) {
    const t0 = process.hrtime.bigint()
    for (let i = 0; i < 500; i++) {
      const p = who(`new-${r}-${i}`, ['fresh'])
      const a = await acct.admit(p, REQ)
      acct.headers(a)
      acct.settle(a, p, OUT)
    }
    fresh.push(Number(process.hrtime.bigint() - t0) / 500)
  }
  rows.push({ label: "capped, a developer's first request (3 lease statements)", ns: median(fresh) })

  const leaseRuns: number[] = []
  for (let i = 0; i < 200; i++) {
    const t0 = process.hrtime.bigint()
    await leaseBudget(sql, { kind: 'u', subject: 'capped', bucket: 'bench', holder: `b${i % 4}`, epoch: 'e', limitId: 'spl_m', amount: '100000000', want: 1000, need: 1000, partialOk: false, ttlMs: 8000 })
    leaseRuns.push(Number(process.hrtime.bigint() - t0))
  }
  // Metering throughput: price 100 batches of 512 records (1,000 developers) on the pool and
  // write them, as one flush would.
  const batches: UsageBatch[] = []
  for (let i = 0; i < 100; i++) {
    const b = new BatchBuilder('bench')
    for (let j = 0; j < 512; j++) addUsageRecord(b, Date.now(), `dev-${(i * 512 + j) % 1000}`, OUT, countsOf(OUT) as Counts, null)
    batches.push(b.take())
  }
  const pool = acquirePrimaryPool()
  const m0 = process.hrtime.bigint()
  const agg = await pool.run<Aggregate>(fileURLToPath(new URL('../lib/metering/task.js', import.meta.url)), 'aggregate', { batches, pricing: undefined })
  const m1 = process.hrtime.bigint()
  await writeLedger(sql, agg.spend, agg.pooled, [])
  const m2 = process.hrtime.bigint()
  await pool.release()
  acct.close()
  hot.close()
  const t0 = Date.now()
  const u0 = await sql`select coalesce(sum(micro_cents), 0)::text as s from spend where principal = 'uncapped'`
  await mod?.stop()
  const flushMs = Date.now() - t0
  void u0

  const lines = [
    `spend control per request (${availableParallelism()} cores, node ${process.version}, median of ${REPEAT} × ${N} requests)`,
    '',
    '| scenario | µs / request |',
    '|---|---:|',
    ...rows.map((r) => `| ${r.label} | ${(r.ns / 1000).toFixed(r.ns < 10_000 ? 2 : 0)} |`),
    '',
    `lease statement round trip (primary → Postgres → primary): median ${(median(leaseRuns) / 1e3).toFixed(0)} µs`,
    `final flush at stop(): ${flushMs} ms`,
    `metering 51,200 records (1,000 developers): priced and summed on the pool in ${(Number(m1 - m0) / 1e6).toFixed(1)} ms, ` +
      `${agg.spend.keys.length} ledger rows written in ${(Number(m2 - m1) / 1e6).toFixed(1)} ms ` +
      `(${Math.round(51_200 / (Number(m2 - m0) / 1e9)).toLocaleString('en-US')} records/s)`,
  ]
  process.stdout.write(lines.join('\n') + '\n')
  await sql.end({ timeout: 2 })
  await server?.destroy()
}

main().then(() => process.exit(0), (err: unknown) => { process.stderr.write(`${err instanceof Error ? err.stack ?? err.message : String(err)}\n`); process.exit(1) })
