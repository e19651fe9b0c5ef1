/**
 * Spend alerts end to end: two Weir replicas sharing one database meter real requests against one
 * daily cap; each threshold the spend crossed (75%, and 95% unless the cap refused within its
 * lease slack below it) is raised exactly once, and the webhook (a real local receiver)
 * gets exactly one delivery of each, in the configured format.
 */
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import t from 'tap'
import postgres from 'postgres'
import { bucketKey } from '../../lib/metering/periods.js'
import { startReplica } from '../auth/helpers/replica.js'
import { baseConfig } from '../helpers/gateway.js'
import { BODY, bearer, eventually, oneCentUpstream, post, setCap, spendConfig, spendGateway, usage } from './spend-helpers.js'

// Two gateways, one a separate process: generous on a loaded 2-core machine (a hang guard only).
t.setTimeout(300_000)

t.test('75% and 95% of a cap alert once each across two replicas, delivered to the webhook', async (t) => {
  const got: Array<{ auth: string | undefined, body: Record<string, unknown> }> = []
  const rx = createServer((req, res) => {
    let s = ''
    req.setEncoding('utf8')
    req.on('data', (c: string) => { s += c })
    req.on('end', () => { got.push({ auth: req.headers.authorization, body: JSON.parse(s) as Record<string, unknown> }); res.writeHead(200).end() })
  })
  await new Promise<void>((resolve) => rx.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { rx.close() })
  const hook = `http://127.0.0.1:${(rx.address() as AddressInfo).port}/weir`
  const alerts = (c: Record<string, any>): void => { // eslint-disable-line @typescript-eslint/no-explicit-any
    c.admin.alerts = { webhooks: [{ name: 'finops', url: hook, headers: { authorization: 'Bearer hook' } }] }
  }

  const fake = await oneCentUpstream(t, 2)
  const a = await spendGateway(t, fake, { workers: 2 }, alerts)
  const b = await startReplica(t, spendConfig(baseConfig(a.idp.issuer, a.dbUrl), fake, alerts), { workers: 2 })
  const dave = bearer('u-dave')
  await setCap(a.url, dave, { scope: { type: 'user', user_id: 'u-dave' }, amount: '20', period: 'daily' })
  await eventually(async () => (await usage(b.url, dave)).json().limits.length > 0, 'replica b sees the cap')

  // 20 one-cent requests, alternating replicas, concurrently; then one at a time until the cap
  // refuses (concurrent requests hold budget for their worst case, so the burst stops short).
  await Promise.all(Array.from({ length: 20 }, async (_, i) => await post(i % 2 === 0 ? a.url : b.url, dave, BODY)))
  // A refusal can come from one worker whose lease is spent while others still hold budget, so go
  // on until three refusals in a row (the kernel spreads connections over each replica's workers).
  for (let i = 0, refused = 0; i < 60 && refused < 3; i++) refused = (await post(i % 2 === 0 ? a.url : b.url, dave, BODY)).status === 429 ? refused + 1 : 0

  const sql = postgres(a.dbUrl, { max: 1, onnotice: () => {} })
  t.teardown(async () => { await sql.end({ timeout: 1 }) })
  const day = bucketKey('daily', Date.now())
  // The cap may refuse up to its lease slack below 20 cents: the thresholds owed are the ones the
  // settled spend crossed (75% always: at least 15 of the 20 concurrent cents are admitted).
  const spent = await eventually(async () => {
    const a1 = (await sql`select micro_cents::text as m from spend where principal = 'u-dave' and period = ${day}`)[0]?.m
    await new Promise((resolve) => setTimeout(resolve, 1000))
    const a2 = (await sql`select micro_cents::text as m from spend where principal = 'u-dave' and period = ${day}`)[0]?.m
    return a1 !== undefined && a1 === a2 ? Number(a2) : null
  }, 'the spend to settle') ?? 0
  const owed = [7500, 9500].filter((bp) => spent * 10_000 >= bp * 20 * 1_000_000)
  t.ok(owed.includes(7500), `75% crossed (${spent} µ¢ of 20 cents)`)
  const rows = await eventually(async () => {
    const r = await sql<Array<{ threshold_bp: number, subject: string, period: string, cap_cents: string }>>`
      select threshold_bp, subject, period, cap_cents::text as cap_cents from spend_alerts order by threshold_bp`
    return r.length === owed.length ? r : null
  }, 'the alerts owed raised') ?? []
  t.same(rows.map((r) => ({ ...r })), owed.map((bp) => ({ threshold_bp: bp, subject: 'u-dave', period: day, cap_cents: '20' })))
  await eventually(async () => got.length >= owed.length, 'every delivery received')
  // Both replicas poll the outbox; give them time to (wrongly) send anything twice.
  await new Promise((resolve) => setTimeout(resolve, 4500))
  t.equal(got.length, owed.length, 'exactly one delivery per alert')
  t.same(got.map((g) => g.body.threshold).sort(), owed.map((bp) => bp / 10_000))
  t.ok(got.every((g) => g.auth === 'Bearer hook' && g.body.subject === 'u-dave' && g.body.email === 'u-dave@example.com' && g.body.audience === 'principal'))
  const [d] = await sql<Array<{ delivered: number, other: number }>>`
    select count(*) filter (where state = 'delivered')::int as delivered, count(*) filter (where state <> 'delivered')::int as other from alert_deliveries`
  t.same({ ...d }, { delivered: owed.length, other: 0 })
  // Replica b is a separate process whose stderr we hold: it wrote an audit line only for the
  // alerts it won (the in-process gateway's lines go to this test's own stderr).
  const audited = b.stderr().match(/"evt":"spend\.threshold"/g)?.length ?? 0
  t.ok(audited <= 2, `replica b audited at most the alerts raised (${audited})`)
})
