/**
 * The Claude Code usage report: metrics a signed-in client sends to `/v1/metrics` are summed per
 * verified developer and day — with no collector configured — and served in the shape of
 * Anthropic's Claude Code Analytics API, field by field; paging, bad parameters, and the
 * aggregator's cumulative series and outage behaviour against real Postgres.
 */
import t from 'tap'
import postgres from 'postgres'
import { CodeAnalytics } from '../../lib/telemetry/analytics.js'
import { extractCodePoints } from '../../lib/telemetry/cc-metrics.js'
import { freshDatabase } from '../helpers/pg.js'
import { req, type Res } from '../helpers/http.js'
import { READ_KEY, bearer, eventually, oneCentUpstream, spendGateway } from '../integration/spend-helpers.js'
import { ccMetrics, DAY_POINTS } from './cc-otlp.js'
import { startCollector } from '../telemetry/collector.js'

async function report (url: string, query: string): Promise<Res> {
  return await req(`${url}/v1/organizations/usage_report/claude_code?${query}`, { headers: { 'x-api-key': READ_KEY } })
}

t.test('metrics through the gateway, in the Claude Code Analytics shape', async (t) => {
  const fake = await oneCentUpstream(t)
  const { url, dbUrl } = await spendGateway(t, fake)
  const sql = postgres(dbUrl, { max: 1, onnotice: () => {} })
  t.teardown(async () => { await sql.end() })
  const now = Date.now()
  const day = new Date(now).toISOString().slice(0, 10)
  const send = async (who: string, body: Buffer, json: boolean): Promise<number> => (await req(`${url}/v1/metrics`, {
    method: 'POST', headers: { authorization: `Bearer ${bearer(who, ['eng'])}`, 'content-type': json ? 'application/json' : 'application/x-protobuf' }, body,
  })).status
  t.equal(await send('u-ann', ccMetrics(DAY_POINTS, { at: now, format: 'protobuf', resource: { 'user.id': 'u-ben' } }), false), 200)
  t.equal(await send('u-ann', ccMetrics([['commit.count', {}, 1]], { at: now, format: 'json' }), true), 200)
  t.equal(await send('u-ben', ccMetrics([['session.count', {}, 1]], { at: now, format: 'json' }), true), 200)
  await sql`insert into principal_emails (principal, email, groups) values ('u-ann', 'ann@example.com', '[]'::jsonb) on conflict (principal) do update set email = excluded.email`
  await eventually(async () => Number((await sql`select count(distinct principal)::int as n from claude_code_daily`)[0]?.n) === 2 &&
    Number((await sql`select value from claude_code_daily where principal = 'u-ann' and metric = 'commit.count'`)[0]?.value) === 4, 'the analytics rows')
  const r = await report(url, `starting_at=${day}`)
  t.equal(r.status, 200)
  t.equal(r.headers['cache-control'], 'no-store')
  const body = r.json()
  t.same(body, {
    data: [{
      date: `${day}T00:00:00Z`,
      is_remote: false,
      actor: { type: 'user_actor', email_address: 'ann@example.com' },
      organization_id: null,
      customer_type: 'api',
      terminal_type: null,
      subscription_type: null,
      core_metrics: { num_sessions: 2, lines_of_code: { added: 342, removed: 128 }, commits_by_claude_code: 4, pull_requests_by_claude_code: 1 },
      tool_actions: {
        edit_tool: { accepted: 25, rejected: 3 },
        multi_edit_tool: { accepted: 0, rejected: 0 },
        notebook_edit_tool: { accepted: 0, rejected: 2 },
        write_tool: { accepted: 8, rejected: 0 },
      },
      model_breakdown: [
        { model: 'claude-haiku-4-5', tokens: { input: 100, output: 0, cache_read: 0, cache_creation: 0 }, estimated_cost: { amount: 0.01, currency: 'USD' } },
        { model: 'claude-sonnet-4-5', tokens: { input: 45_230, output: 12_450, cache_read: 8790, cache_creation: 2340 }, estimated_cost: { amount: 186, currency: 'USD' } },
      ],
    }, {
      date: `${day}T00:00:00Z`,
      is_remote: false,
      actor: { type: 'user_actor', email_address: 'u-ben' },
      organization_id: null,
      customer_type: 'api',
      terminal_type: null,
      subscription_type: null,
      core_metrics: { num_sessions: 1, lines_of_code: { added: 0, removed: 0 }, commits_by_claude_code: 0, pull_requests_by_claude_code: 0 },
      tool_actions: { edit_tool: { accepted: 0, rejected: 0 }, multi_edit_tool: { accepted: 0, rejected: 0 }, notebook_edit_tool: { accepted: 0, rejected: 0 }, write_tool: { accepted: 0, rejected: 0 } },
      model_breakdown: [],
    }],
    has_more: false,
    next_page: null,
  }, "per verified developer (a client-sent user.id changes nothing), Anthropic's fields")

  const first = (await report(url, `starting_at=${day}&limit=1`)).json()
  t.equal(first.data.length, 1)
  t.equal(first.has_more, true)
  const second = (await report(url, `starting_at=${day}&limit=1&page=${first.next_page as string}`)).json()
  t.same(second.data.map((d: { actor: { email_address: string } }) => d.actor.email_address), ['u-ben'])
  t.same([second.has_more, second.next_page], [false, null])
  t.same((await report(url, 'starting_at=2020-01-01')).json(), { data: [], has_more: false, next_page: null })

  for (const [q, message] of [
    ['', 'starting_at: Required'],
    ['starting_at=2026-02-30', 'starting_at: must be a UTC date, YYYY-MM-DD'],
    ['starting_at=2026-02-01T00:00:00Z', 'starting_at: must be a UTC date, YYYY-MM-DD'],
    [`starting_at=${day}&limit=1001`, 'limit: must be an integer between 1 and 1000'],
    [`starting_at=${day}&limit=0`, 'limit: must be an integer between 1 and 1000'],
    [`starting_at=${day}&page=nope`, 'page: invalid page token'],
    [`starting_at=2020-01-01&page=${first.next_page as string}`, 'page: invalid page token'],
    [`starting_at=${day}&group_by[]=model`, 'group_by[]: unknown query parameter'],
  ] as const) {
    const x = await report(url, q)
    t.equal(x.status, 400, q)
    t.same(x.json().error, { type: 'invalid_request_error', message }, message)
  }
  t.equal((await req(`${url}/v1/organizations/usage_report/claude_code?starting_at=${day}`, { headers: { authorization: `Bearer ${bearer('u-ann', ['eng'])}` } })).status, 401, 'a developer cannot read it')
})

t.test('the aggregator: cumulative series add their increase; an outage loses nothing', async (t) => {
  const { sql } = await freshDatabase(t, { migrate: true })
  const a = new CodeAnalytics(sql, null, 1 << 20, 60_000)
  const at = Date.UTC(2026, 2, 10, 12)
  const pts = (v: number, session = 's-1'): ReturnType<typeof extractCodePoints> => {
    const b = ccMetrics([['commit.count', { 'session.id': session }, v]], { at, format: 'protobuf', cumulative: true, start: at - 3_600_000 })
    return extractCodePoints({ body: b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer, json: false, gzip: false, maxBytes: 1 << 20, now: at })
  }
  a.add('u1', pts(3))
  a.add('u1', pts(5))
  a.add('u1', pts(5))
  a.add('u1', pts(2, 's-2'))
  a.add('u2', pts(5))
  await sql`alter table claude_code_daily rename to claude_code_daily_away`
  await a.flush()
  t.equal(a.backlog, 2, 'kept in memory while the table is unreachable')
  await sql`alter table claude_code_daily_away rename to claude_code_daily`
  a.add('u1', pts(9))
  await a.stop()
  const rows = await sql`select principal, value::text as v from claude_code_daily where day = '2026-03-10' order by principal`
  t.same(rows.map((r) => [r.principal, r.v]), [['u1', '11'], ['u2', '5']], 'u1: 3 + 2 + 0 + 2 (another session) + 4; u2 has its own series')
  t.equal(a.dropped, 0)
})

t.test('with a collector too: the collector gets the stamped body and the report counts it', async (t) => {
  const fake = await oneCentUpstream(t)
  const collector = await startCollector()
  t.teardown(() => collector.close())
  const { url, dbUrl } = await spendGateway(t, fake, {}, (c) => { c.telemetry = { forward_to: [{ url: collector.url, metrics: true }] } })
  const sql = postgres(dbUrl, { max: 1, onnotice: () => {} })
  t.teardown(async () => { await sql.end() })
  const now = Date.now()
  const body = ccMetrics([['commit.count', {}, 7]], { at: now, format: 'protobuf' })
  for (let i = 0; i < 3; i++) {
    const r = await req(`${url}/v1/metrics`, { method: 'POST', headers: { authorization: `Bearer ${bearer('u-cat', ['eng'])}`, 'content-type': 'application/x-protobuf' }, body })
    t.equal(r.status, 200)
  }
  await eventually(async () => collector.received.filter((r) => r.path === '/v1/metrics').length === 3, 'three bodies at the collector')
  t.ok(collector.received.every((r) => r.body.includes(Buffer.from('u-cat'))), 'stamped with the verified subject')
  await eventually(async () => (await sql`select value::text as v from claude_code_daily where principal = 'u-cat' and metric = 'commit.count'`)[0]?.v === '21', 'the report counts every body')
  const day = new Date(now).toISOString().slice(0, 10)
  t.equal((await report(url, `starting_at=${day}`)).json().data[0]?.core_metrics.commits_by_claude_code, 21)
})
