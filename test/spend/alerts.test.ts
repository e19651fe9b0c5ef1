/**
 * Spend alerts against a real Postgres and a real local HTTP receiver: thresholds fire once per
 * period and threshold even with two replicas flushing at once, pooled budgets alert once for the
 * group, deliveries retry until the receiver comes back, and give up as dead letters.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import t from 'tap'
import { AlertDelivery, type WebhookSettings } from '../../lib/spend/alert-delivery.js'
import { dollars, webhookBody } from '../../lib/spend/alert-format.js'
import { SpendAlerts, periodOfBucket, reached, type AlertPayload } from '../../lib/spend/alerts.js'
import { CapBook, type CapRow } from '../../lib/spend/caps.js'
import { writeLedger } from '../../lib/metering/ledger.js'
import type { Rows } from '../../lib/metering/task.js'
import { setLogSink } from '../../lib/log.js'
import { enableRecorder, disableRecorder, takeSnapshot } from '../../lib/telemetry/metrics.js'
import { freshDatabase } from '../helpers/pg.js'

const NONE: Rows = { keys: [], buckets: [], micro: [] }
const CENT = 1_000_000
const rules = { mode: 'min' as const }
const cap = (over: Partial<CapRow>): CapRow => ({ id: 'spl_a', scope_type: 'user', scope_id: 'alice', amount: '100', period: 'monthly', pooled_limit_enabled: false, pooled_monthly_credit_limit: null, ...over })

interface Receiver { url: string, got: Array<{ headers: IncomingMessage['headers'], body: unknown }>, status: number, close(): Promise<void>, server: Server }

async function receiver (): Promise<Receiver> {
  const r: Receiver = { url: '', got: [], status: 200, close: async () => {}, server: null as unknown as Server }
  r.server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      if (r.status >= 200 && r.status < 300) r.got.push({ headers: req.headers, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) })
      res.writeHead(r.status).end()
    })
  })
  await new Promise<void>((resolve) => r.server.listen(0, '127.0.0.1', resolve))
  r.url = `http://127.0.0.1:${(r.server.address() as AddressInfo).port}/hook`
  r.close = async () => { await new Promise<void>((resolve) => r.server.close(() => resolve())) }
  return r
}

t.test('pure parts: periods, exact comparison, dollars, bodies', async (t) => {
  t.equal(periodOfBucket('2026-08'), 'monthly')
  t.equal(periodOfBucket('2026-W31'), 'weekly')
  t.equal(periodOfBucket('2026-08-03'), 'daily')
  t.equal(periodOfBucket('junk'), null)
  t.ok(reached(75n * 1_000_000n, 100n, 7500), 'exactly 75% reaches 75%')
  t.notOk(reached(75n * 1_000_000n - 1n, 100n, 7500), 'one micro-cent short does not')
  t.equal(dollars(123456789n), '$1,234,567.89')
  t.equal(dollars(5n), '$0.05')
  const p: AlertPayload = {
    type: 'spend.threshold', kind: 'principal', subject: 'alice', email: 'alice@example.com', period: 'monthly', bucket: '2026-08', threshold: 0.75,
    cap_id: 'spl_a', cap_scope: 'user', cap_cents: 1210, spent_micro_cents: 907_500_000, audience: 'principal', at: '2026-08-01T00:00:00.000Z',
  }
  t.same(JSON.parse(webhookBody('json', p)), p, 'json: the alert itself')
  const slack = JSON.parse(webhookBody('slack', p)) as Record<string, unknown>
  t.same(Object.keys(slack), ['text'], 'slack: only text')
  t.match(slack.text, /alice@example\.com reached 75% of the monthly spend cap \(user cap\): \$9\.07 of \$12\.10 in 2026-08/)
  const teams = JSON.parse(webhookBody('teams', p)) as { type: string, attachments: Array<{ contentType: string, content: { type: string, version: string, body: Array<{ type: string, facts?: unknown[] }> } }> }
  t.equal(teams.type, 'message')
  t.equal(teams.attachments.length, 1)
  t.equal(teams.attachments[0]?.contentType, 'application/vnd.microsoft.card.adaptive')
  t.equal(teams.attachments[0]?.content.type, 'AdaptiveCard')
  t.match(teams.attachments[0]?.content.body.map((b) => b.type), ['TextBlock', 'TextBlock', 'FactSet'])
  const pool = JSON.parse(webhookBody('slack', { ...p, kind: 'pool', subject: 'eng', cap_scope: 'pool', audience: 'administrators' })) as { text: string }
  t.match(pool.text, /Pooled budget of group eng reached 75%/)
})

t.test('thresholds fire once per period and threshold, with two replicas flushing at once', async (t) => {
  const { sql } = await freshDatabase(t, { migrate: true, max: 10 })
  const rx = await receiver()
  t.teardown(rx.close)
  const book = new CapBook([
    cap({}),
    cap({ id: 'spl_org', scope_type: 'organization', scope_id: '', amount: '1000', period: 'daily' }),
    cap({ id: 'spl_eng', scope_type: 'rbac_group', scope_id: 'eng', amount: null, pooled_limit_enabled: true, pooled_monthly_credit_limit: '200' }),
  ])
  await sql`insert into principal_emails (principal, email, name, groups) values ('alice', 'alice@example.com', 'Alice', '["eng"]'::jsonb), ('bob', 'bob@example.com', 'Bob', '["eng"]'::jsonb)`
  const settings = { thresholds: [0.75, 0.95], webhooks: [{ name: 'ops', url: rx.url }, { url: rx.url + '?slack' }] }
  const lines: string[] = []
  setLogSink((l) => { lines.push(l) })
  t.teardown(() => { setLogSink(undefined) })
  enableRecorder(3_600_000)
  t.teardown(() => { disableRecorder() })
  takeSnapshot()
  const a = new SpendAlerts(sql, () => book, rules, settings)
  const b = new SpendAlerts(sql, () => book, rules, settings)
  const flush = async (alerts: SpendAlerts, who: string, cents: number, pooled?: string): Promise<void> => {
    const totals = await writeLedger(sql, { keys: [who, who], buckets: ['2026-08', '2026-08-03'], micro: [cents * CENT, cents * CENT] },
      pooled === undefined ? NONE : { keys: [pooled], buckets: ['2026-08'], micro: [cents * CENT] }, [])
    alerts.onTotals(totals)
  }
  const alerts = async (): Promise<Array<{ kind: string, subject: string, period: string, threshold_bp: number, cap_id: string }>> =>
    await sql`select kind, subject, period, threshold_bp, cap_id from spend_alerts order by kind, subject, period, threshold_bp`

  // 70 cents: below 75% of alice's $1 monthly cap.
  await flush(a, 'alice', 70)
  await a.settle()
  t.same(await alerts(), [], 'nothing below the first threshold')

  // Two replicas, each writing 3 cents, many times over, concurrently: alice goes from 70 to 100+.
  const rounds: Array<Promise<void>> = []
  for (let i = 0; i < 6; i++) rounds.push(flush(a, 'alice', 3), flush(b, 'alice', 3))
  await Promise.all(rounds)
  await a.settle()
  await b.settle()
  t.same((await alerts()).map((r) => [r.kind, r.subject, r.period, r.threshold_bp, r.cap_id]), [
    ['u', 'alice', '2026-08', 7500, 'spl_a'],
    ['u', 'alice', '2026-08', 9500, 'spl_a'],
  ], '75% and 95% of the monthly cap, once each; the daily org cap ($10) is not reached')
  const [{ n } = { n: 0 }] = await sql<Array<{ n: number }>>`select count(*)::int as n from alert_deliveries`
  t.equal(n, 4, 'one delivery per alert and webhook, queued by the winner only')
  const audited = lines.filter((l) => l.includes('"evt":"spend.threshold"')).map((l) => JSON.parse(l) as Record<string, unknown>)
  t.match(audited, [
    { kind: 'principal', subject: 'alice', email: 'alice@example.com', bucket: '2026-08', threshold: 0.75, cap_id: 'spl_a', cap_scope: 'user', cap_cents: 100, audience: 'principal', webhooks: 2 },
    { threshold: 0.95 },
  ], 'one audit event per alert, written by the winner')
  t.equal(audited.length, 2)
  t.same(takeSnapshot()?.thresholds?.sort((x, y) => x.threshold < y.threshold ? -1 : 1), [
    { period: 'monthly', threshold: '0.75', count: 1 }, { period: 'monthly', threshold: '0.95', count: 1 },
  ], 'the metric counts each alert once')

  // A third replica that sees the same totals later raises nothing again.
  const c = new SpendAlerts(sql, () => book, rules, settings)
  t.equal(await c.check([{ kind: 'u', total: { subject: 'alice', period: '2026-08', micro: String(200 * CENT) } }]), 0, 'already raised this period')
  t.equal(await c.check([{ kind: 'u', total: { subject: 'alice', period: '2026-09', micro: String(80 * CENT) } }]), 1, 'a new period raises again')

  // Pooled budget: one alert for the group, whoever spends.
  await flush(a, 'alice', 80, 'eng')
  await flush(b, 'bob', 80, 'eng')
  await a.settle()
  await b.settle()
  const pooled = (await alerts()).filter((r) => r.kind === 'g')
  t.same(pooled.map((r) => [r.subject, r.threshold_bp, r.cap_id]), [['eng', 7500, 'spl_eng']], '160 of 200 cents: 75% of the pool, once for the group')
  const [p] = await sql<Array<{ payload: AlertPayload }>>`select payload from alert_deliveries where payload->>'kind' = 'pool' limit 1`
  t.match(p?.payload, { kind: 'pool', subject: 'eng', audience: 'administrators', cap_scope: 'pool', cap_cents: 200, spent_micro_cents: 160 * CENT })

  // Organization cap: bob crosses 75% of the org's daily $10 default; the alert is for administrators.
  await flush(a, 'bob', 700)
  await a.settle()
  const [org] = await sql<Array<{ payload: AlertPayload }>>`select payload from alert_deliveries where payload->>'cap_scope' = 'organization' limit 1`
  t.match(org?.payload, { subject: 'bob', email: 'bob@example.com', period: 'daily', bucket: '2026-08-03', audience: 'administrators', threshold: 0.75 })

  // Delivery: every queued row reaches the receiver, in its format.
  const d = new AlertDelivery(sql, {
    webhooks: [{ name: 'ops', url: rx.url, format: 'json', headers: { authorization: 'Bearer hook-secret' } }, { url: rx.url + '?slack', format: 'slack', headers: {} }],
    maxAttempts: 3, allowLoopback: true, backoffMs: 50,
  })
  t.teardown(async () => { await d.stop() })
  while (await d.tick() > 0);
  const [left] = await sql<Array<{ pending: number, delivered: number }>>`
    select count(*) filter (where state = 'pending')::int as pending, count(*) filter (where state = 'delivered')::int as delivered from alert_deliveries`
  t.same(left, { pending: 0, delivered: rx.got.length })
  t.ok(rx.got.length >= 8, `every alert delivered (${rx.got.length})`)
  const json = rx.got.filter((g) => g.headers.authorization === 'Bearer hook-secret')
  t.equal(json.length * 2, rx.got.length, 'half to each webhook; configured headers sent')
  t.ok(json.every((g) => (g.body as AlertPayload).type === 'spend.threshold'))
  t.ok(rx.got.filter((g) => g.headers.authorization === undefined).every((g) => typeof (g.body as { text?: unknown }).text === 'string'), 'slack bodies')
})

t.test('a receiver that is down is retried, then delivered; one that always fails ends as a dead letter', async (t) => {
  const { sql } = await freshDatabase(t, { migrate: true })
  const rx = await receiver()
  t.teardown(rx.close)
  const closed = await receiver()
  await closed.close()
  const payload = JSON.stringify({ type: 'spend.threshold', kind: 'principal', subject: 'carol', period: 'monthly', bucket: '2026-08', threshold: 0.95, cap_id: 'x', cap_scope: 'user', cap_cents: 100, spent_micro_cents: 95 * CENT, audience: 'principal', at: 'now' })
  const hooks: WebhookSettings[] = [
    { name: 'flaky', url: rx.url, format: 'teams', headers: {} },
    { name: 'broken', url: closed.url, format: 'json', headers: {} },
  ]
  await sql`insert into alert_deliveries (webhook, payload) values ('flaky', (${payload}::text)::jsonb), ('broken', (${payload}::text)::jsonb), ('gone', (${payload}::text)::jsonb)`
  const d = new AlertDelivery(sql, { webhooks: hooks, maxAttempts: 3, allowLoopback: true, backoffMs: 1000, timeoutMs: 2000 })
  t.teardown(async () => { await d.stop() })
  const row = async (w: string): Promise<{ state: string, attempts: number, last_error: string | null }> =>
    (await sql<Array<{ state: string, attempts: number, last_error: string | null }>>`select state, attempts, last_error from alert_deliveries where webhook = ${w}`)[0] as never

  rx.status = 503
  await d.tick()
  t.match(await row('flaky'), { state: 'pending', attempts: 1, last_error: 'HTTP 503' }, 'a 503 is retried later')
  t.match(await row('gone'), { state: 'pending', attempts: 0 }, 'a webhook this replica does not know is left to one that does')
  t.equal(await d.tick(), 0, 'nothing is due before the backoff')
  await new Promise((resolve) => setTimeout(resolve, 1300))
  await d.tick()
  t.match(await row('flaky'), { state: 'pending', attempts: 2 })

  rx.status = 204
  const until = Date.now() + 20_000
  while ((await row('flaky')).state === 'pending' || (await row('broken')).state === 'pending') {
    if (Date.now() > until) throw new Error('deliveries did not settle')
    await d.tick()
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  t.match(await row('flaky'), { state: 'delivered', attempts: 3, last_error: null }, 'delivered once the receiver is back')
  t.equal(rx.got.length, 1, 'exactly one delivery reached the receiver')
  t.match(rx.got[0]?.body, { type: 'message', attachments: [{ contentType: 'application/vnd.microsoft.card.adaptive' }] })
  const dead = await row('broken')
  t.match(dead, { state: 'dead', attempts: 3 }, 'dead after max_attempts')
  t.match(JSON.parse(dead.last_error ?? '{}'), { webhook: 'broken', attempts: 3, error: /ECONNREFUSED|connect/i }, 'the dead-letter record')
})
