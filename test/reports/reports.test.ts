/**
 * The usage and cost reports in the Admin API's shapes, over real sockets against real Postgres:
 * requests through the gateway show up in both; a generated ledger checks bucket edges (UTC days,
 * hours, minutes, offsets in the query), paging, group_by combinations, filters, exact amounts and
 * the result shapes field by field; credentials and bad parameters are refused in the envelope.
 */
import t from 'tap'
import postgres from 'postgres'
import { req, type Res } from '../helpers/http.js'
import { writeUsage } from '../../lib/reports/ledger.js'
import { READ_KEY, WRITE_KEY, bearer, eventually, oneCentUpstream, post, spendGateway } from '../integration/spend-helpers.js'

const RID = /^req_[0-9a-f]{32}$/

async function get (url: string, path: string, key: string | null = READ_KEY, headers: Record<string, string> = {}): Promise<Res> {
  return await req(`${url}/v1/organizations${path}`, { headers: { ...(key === null ? {} : { 'x-api-key': key }), ...headers } })
}

/** [minute, principal, model, upstream, long, input, output, cache read, write 5m, write 1h, web searches, six costs in micro-cents] */
type Row = [string, string, string, string, boolean, number, number, number, number, number, number, number, number, number, number, number, number]
const LEDGER: Row[] = [
  ['2025-03-01T00:00:00Z', 'ann', 'claude-sonnet-4-5', 'anthropic', false, 100, 10, 0, 0, 0, 0, 30_000, 15_000, 0, 0, 0, 0],
  ['2025-03-01T23:59:00Z', 'ben', 'claude-haiku-4-5', 'bedrock', false, 1000, 20, 500, 40, 60, 2, 100_000, 10_000, 5_000, 5_000, 12_000, 2_000_000],
  ['2025-03-02T00:00:00Z', 'ann', 'claude-haiku-4-5', 'bedrock', false, 7, 1, 0, 0, 0, 0, 1, 1_234_567, 0, 0, 0, 0],
  ['2025-03-03T12:34:00Z', 'cat', 'claude-sonnet-4-5', 'anthropic', true, 250_000, 5, 0, 0, 0, 0, 150_000_000, 112_500, 0, 0, 0, 0],
]

t.test('usage and cost reports', async (t) => {
  const fake = await oneCentUpstream(t)
  const { url, dbUrl } = await spendGateway(t, fake)
  const sql = postgres(dbUrl, { max: 2, onnotice: () => {} })
  t.teardown(async () => { await sql.end() })

  await t.test('requests through the gateway appear in both reports, exactly', async (t) => {
    const dev = bearer('u-dev', ['eng'])
    for (let i = 0; i < 3; i++) t.equal((await post(url, dev)).status, 200)
    await eventually(async () => Number((await sql`select coalesce(sum(requests), 0)::int as n from usage_minutes where principal = 'u-dev'`)[0]?.n) === 3, 'three metered requests')
    const today = new Date().toISOString().slice(0, 10)
    const u = await get(url, `/usage_report/messages?starting_at=${today}T00:00:00Z&group_by[]=model&group_by[]=upstream&group_by[]=account_id`)
    t.equal(u.status, 200)
    t.equal(u.headers['cache-control'], 'no-store')
    t.match(u.headers['request-id'], RID)
    const body = u.json()
    t.equal(body.data.length, 1, 'today only: ending_at defaults to now')
    t.same(body.data[0].results, [{
      uncached_input_tokens: 30_000,
      cache_creation: { ephemeral_1h_input_tokens: 0, ephemeral_5m_input_tokens: 0 },
      cache_read_input_tokens: 0,
      output_tokens: 0,
      server_tool_use: { web_search_requests: 0 },
      api_key_id: null,
      workspace_id: null,
      model: 'claude-haiku-4-5',
      service_tier: null,
      context_window: null,
      inference_geo: null,
      service_account_id: null,
      upstream: 'anthropic',
      account_id: 'u-dev',
    }])
    t.same({ has_more: body.has_more, next_page: body.next_page }, { has_more: false, next_page: null })
    const c = (await get(url, `/cost_report?starting_at=${today}T00:00:00Z`)).json()
    t.same(c.data[0].results, [{ amount: '3', currency: 'USD', cost_type: null, description: null, model: null, service_tier: null, token_type: null, context_window: null, inference_geo: null, workspace_id: null }], 'three requests of one cent each')
    const [spent] = await sql`select micro_cents::text as m from spend where principal = 'u-dev' and period = ${today}`
    t.equal(spent?.m, '3000000', 'the same amount as the spend ledger')
  })

  // A generated ledger far from today, with identities for Weir's dimensions.
  // Written by the ledger's own writer: minutes, hours and the organization's days.
  await writeUsage(sql as never, LEDGER.map((r) => ({ minute: Date.parse(r[0]), principal: r[1], model: r[2], upstream: r[3], long: r[4], fast: false, v: [1, ...r.slice(5)] as number[] })))
  await sql`insert into principal_emails (principal, email, groups) values ('ann', 'Ann@Example.com', '["eng","ml"]'::jsonb), ('ben', 'ben@example.com', '["eng"]'::jsonb)
    on conflict (principal) do update set email = excluded.email, groups = excluded.groups`
  const MARCH = 'starting_at=2025-03-01T00:00:00Z&ending_at=2025-03-04T00:00:00Z'
  const results = async (path: string): Promise<Array<{ starting_at: string, ending_at: string, results: Array<Record<string, unknown>> }>> => {
    const r = await get(url, path)
    if (r.status !== 200) throw new Error(`${path}: ${r.status} ${r.text}`)
    return r.json().data
  }

  await t.test('day buckets are UTC days; every bucket appears; the edges fall on the right side', async (t) => {
    const data = await results(`/usage_report/messages?${MARCH}`)
    t.same(data.map((b) => [b.starting_at, b.ending_at]), [
      ['2025-03-01T00:00:00Z', '2025-03-02T00:00:00Z'], ['2025-03-02T00:00:00Z', '2025-03-03T00:00:00Z'], ['2025-03-03T00:00:00Z', '2025-03-04T00:00:00Z']])
    t.same(data.map((b) => b.results.map((x) => x.uncached_input_tokens)), [[1100], [7], [250_000]], '23:59 counts in the first day, 00:00 in the second')
    t.same(data[0]?.results[0], {
      uncached_input_tokens: 1100,
      cache_creation: { ephemeral_1h_input_tokens: 60, ephemeral_5m_input_tokens: 40 },
      cache_read_input_tokens: 500,
      output_tokens: 30,
      server_tool_use: { web_search_requests: 2 },
      account_id: null, api_key_id: null, workspace_id: null, model: null, service_tier: null, context_window: null, inference_geo: null, service_account_id: null,
    })
    const offset = await results('/usage_report/messages?starting_at=2025-03-01T01:30:00%2B02:00&ending_at=2025-03-01T00:30:00Z')
    t.same(offset.map((b) => [b.starting_at, b.results.length]), [['2025-02-28T00:00:00Z', 0], ['2025-03-01T00:00:00Z', 1]],
      'an offset in starting_at is read in UTC (23:30 the day before), snapped to that day; ending_at inside a bucket keeps that bucket')
    const empty = await results('/usage_report/messages?starting_at=2024-01-01T00:00:00Z&ending_at=2024-01-02T00:00:00Z')
    t.same(empty, [{ starting_at: '2024-01-01T00:00:00Z', ending_at: '2024-01-02T00:00:00Z', results: [] }])
  })

  await t.test('hour and minute buckets', async (t) => {
    const hours = await results('/usage_report/messages?bucket_width=1h&starting_at=2025-03-01T23:00:00Z&ending_at=2025-03-02T01:00:00Z&group_by[]=account_id')
    t.same(hours.map((b) => [b.starting_at, b.ending_at, b.results.map((x) => x.account_id)]), [
      ['2025-03-01T23:00:00Z', '2025-03-02T00:00:00Z', ['ben']], ['2025-03-02T00:00:00Z', '2025-03-02T01:00:00Z', ['ann']]])
    // Minute detail reaches back 31 days: a recent midnight.
    const midnight = Math.floor(Date.now() / 86_400_000) * 86_400_000
    const at = (ms: number): string => new Date(ms).toISOString()
    await sql`insert into usage_minutes (minute, principal, model, requests, output_tokens) values
      (${at(midnight - 60_000)}, 'm-dev', 'claude-haiku-4-5', 1, 20), (${at(midnight)}, 'm-dev', 'claude-haiku-4-5', 1, 1)`
    const minutes = await results(`/usage_report/messages?bucket_width=1m&starting_at=${at(midnight - 120_000)}&ending_at=${at(midnight + 60_000)}&account_ids[]=m-dev`)
    t.same(minutes.map((b) => [b.starting_at.slice(11), b.results.map((x) => x.output_tokens)]), [
      ['23:58:00Z', []], ['23:59:00Z', [20]], ['00:00:00Z', [1]]])
  })

  await t.test('paging: limit buckets a page, an opaque next_page, the pages add up to the whole', async (t) => {
    const whole = await results(`/usage_report/messages?${MARCH}&group_by[]=model`)
    const pages: unknown[] = []
    let page: string | null = null
    const seen: Array<[boolean, boolean]> = []
    do {
      const r: Res = await get(url, `/usage_report/messages?${MARCH}&group_by[]=model&limit=1${page === null ? '' : `&page=${page}`}`)
      t.equal(r.status, 200)
      const b = r.json()
      pages.push(...b.data)
      seen.push([b.has_more, b.next_page !== null])
      if (b.next_page !== null) t.match(b.next_page, /^page_[A-Za-z0-9_-]+$/)
      page = b.next_page
    } while (page !== null && pages.length < 10)
    t.same(seen, [[true, true], [true, true], [false, false]])
    t.same(pages, whole)
    const open = (await get(url, '/usage_report/messages?starting_at=2025-03-01T00:00:00Z')).json()
    t.equal(open.data.length, 7, 'without ending_at: the default 7 day buckets, up to now')
    t.equal(open.has_more, true)
    const second = (await get(url, `/usage_report/messages?starting_at=2025-03-01T00:00:00Z&page=${open.next_page as string}`)).json()
    t.equal(second.data[0].starting_at, '2025-03-08T00:00:00Z')
  })

  await t.test('group_by combinations and filters', async (t) => {
    const pick = (data: Awaited<ReturnType<typeof results>>, ...keys: string[]): unknown[][] =>
      data.flatMap((b) => b.results.map((x) => [b.starting_at.slice(8, 10), ...keys.map((k) => x[k]), x.uncached_input_tokens]))
    t.same(pick(await results(`/usage_report/messages?${MARCH}&group_by[]=model&group_by[]=account_id`), 'model', 'account_id'), [
      ['01', 'claude-haiku-4-5', 'ben', 1000], ['01', 'claude-sonnet-4-5', 'ann', 100], ['02', 'claude-haiku-4-5', 'ann', 7], ['03', 'claude-sonnet-4-5', 'cat', 250_000]])
    t.same(pick(await results(`/usage_report/messages?${MARCH}&group_by=idp_group`), 'idp_group'), [
      ['01', 'eng', 1100], ['01', 'ml', 100], ['02', 'eng', 7], ['02', 'ml', 7], ['03', null, 250_000]],
    'a developer counts in each group they were last seen in; one with no known groups under null')
    t.same(pick(await results(`/usage_report/messages?${MARCH}&group_by[]=user_email&group_by[]=upstream`), 'user_email', 'upstream'), [
      ['01', 'Ann@Example.com', 'anthropic', 100], ['01', 'ben@example.com', 'bedrock', 1000], ['02', 'Ann@Example.com', 'bedrock', 7], ['03', null, 'anthropic', 250_000]])
    const cw = await results(`/usage_report/messages?${MARCH}&group_by[]=context_window&group_by[]=service_tier&group_by[]=api_key_id&group_by[]=workspace_id&group_by[]=inference_geo`)
    t.same(cw[2]?.results[0], {
      uncached_input_tokens: 250_000, cache_creation: { ephemeral_1h_input_tokens: 0, ephemeral_5m_input_tokens: 0 }, cache_read_input_tokens: 0,
      output_tokens: 5, server_tool_use: { web_search_requests: 0 },
      account_id: null, api_key_id: null, workspace_id: null, model: null, service_tier: 'standard', context_window: '200k-1M', inference_geo: 'not_available', service_account_id: null,
    }, "Anthropic's dimensions Weir has one value of")
    t.same(pick(await results(`/usage_report/messages?${MARCH}&models[]=claude-haiku-4-5`)), [['01', 1000], ['02', 7]])
    t.same(pick(await results(`/usage_report/messages?${MARCH}&user_emails[]=ANN@example.COM&group_by[]=model`), 'model'), [['01', 'claude-sonnet-4-5', 100], ['02', 'claude-haiku-4-5', 7]])
    t.same(pick(await results(`/usage_report/messages?${MARCH}&idp_groups[]=ml&group_by[]=idp_group`), 'idp_group'), [['01', 'ml', 100], ['02', 'ml', 7]])
    t.same(pick(await results(`/usage_report/messages?${MARCH}&upstreams[]=bedrock&account_ids[]=ann`)), [['02', 7]])
    t.same(pick(await results(`/usage_report/messages?${MARCH}&context_window[]=200k-1M`)), [['03', 250_000]])
  })

  await t.test('cost report: exact cents as decimal strings, by description and by Weir dimensions', async (t) => {
    const totals = await results(`/cost_report?${MARCH}`)
    t.same(totals.map((b) => b.results.map((x) => x.amount)), [['2.177'], ['1.234568'], ['150.1125']], 'micro-cents to cents, exactly')
    const by = await results(`/cost_report?${MARCH}&group_by[]=description`)
    t.same(by[0]?.results, [
      { amount: '0.1', currency: 'USD', cost_type: 'tokens', description: 'claude-haiku-4-5 Usage - Input Tokens', model: 'claude-haiku-4-5', service_tier: 'standard', token_type: 'uncached_input_tokens', context_window: '0-200k', inference_geo: null, workspace_id: null },
      { amount: '0.01', currency: 'USD', cost_type: 'tokens', description: 'claude-haiku-4-5 Usage - Output Tokens', model: 'claude-haiku-4-5', service_tier: 'standard', token_type: 'output_tokens', context_window: '0-200k', inference_geo: null, workspace_id: null },
      { amount: '0.005', currency: 'USD', cost_type: 'tokens', description: 'claude-haiku-4-5 Usage - Input Tokens, Cache Read', model: 'claude-haiku-4-5', service_tier: 'standard', token_type: 'cache_read_input_tokens', context_window: '0-200k', inference_geo: null, workspace_id: null },
      { amount: '0.005', currency: 'USD', cost_type: 'tokens', description: 'claude-haiku-4-5 Usage - Input Tokens, Cache Write (5 minutes)', model: 'claude-haiku-4-5', service_tier: 'standard', token_type: 'cache_creation.ephemeral_5m_input_tokens', context_window: '0-200k', inference_geo: null, workspace_id: null },
      { amount: '0.012', currency: 'USD', cost_type: 'tokens', description: 'claude-haiku-4-5 Usage - Input Tokens, Cache Write (1 hour)', model: 'claude-haiku-4-5', service_tier: 'standard', token_type: 'cache_creation.ephemeral_1h_input_tokens', context_window: '0-200k', inference_geo: null, workspace_id: null },
      { amount: '2', currency: 'USD', cost_type: 'web_search', description: 'claude-haiku-4-5 - Web Search', model: null, service_tier: null, token_type: null, context_window: null, inference_geo: null, workspace_id: null },
      { amount: '0.03', currency: 'USD', cost_type: 'tokens', description: 'claude-sonnet-4-5 Usage - Input Tokens', model: 'claude-sonnet-4-5', service_tier: 'standard', token_type: 'uncached_input_tokens', context_window: '0-200k', inference_geo: null, workspace_id: null },
      { amount: '0.015', currency: 'USD', cost_type: 'tokens', description: 'claude-sonnet-4-5 Usage - Output Tokens', model: 'claude-sonnet-4-5', service_tier: 'standard', token_type: 'output_tokens', context_window: '0-200k', inference_geo: null, workspace_id: null },
    ])
    t.same(by[1]?.results.map((x) => [x.token_type, x.amount]), [['uncached_input_tokens', '0.000001'], ['output_tokens', '1.234567']], 'a micro-cent survives')
    t.same(by[2]?.results.map((x) => [x.description, x.context_window]), [
      ['claude-sonnet-4-5 Usage - Input Tokens (Long Context)', '200k-1M'], ['claude-sonnet-4-5 Usage - Output Tokens (Long Context)', '200k-1M']])
    const people = await results(`/cost_report?${MARCH}&group_by[]=user_email&group_by[]=workspace_id`)
    t.same(people[0]?.results.map((x) => [x.user_email, x.amount, x.workspace_id]), [['Ann@Example.com', '0.045', null], ['ben@example.com', '2.132', null]])
    const groups = await results(`/cost_report?${MARCH}&group_by[]=idp_group&group_by[]=upstream&bucket_width=1d&limit=2`)
    t.same(groups.map((b) => b.results.map((x) => [x.idp_group, x.upstream, x.amount])), [
      [['eng', 'anthropic', '0.045'], ['eng', 'bedrock', '2.132'], ['ml', 'anthropic', '0.045']], [['eng', 'bedrock', '1.234568'], ['ml', 'bedrock', '1.234568']]])
  })

  await t.test('speed: fast-mode usage written by the ledger groups and filters as "fast"; shapes field by field with the documented examples', async (t) => {
    const v = (input: number, cost: number): number[] => [1, input, 1, 0, 0, 0, 0, cost, 0, 0, 0, 0, 0]
    await writeUsage(sql as never, [
      { minute: Date.parse('2025-04-01T10:15:00Z'), principal: 'ann', model: 'claude-opus-4-6', upstream: 'anthropic', long: false, fast: true, v: v(10, 600) },
      { minute: Date.parse('2025-04-01T11:00:00Z'), principal: 'ann', model: 'claude-opus-4-6', upstream: 'anthropic', long: false, fast: false, v: v(20, 100) },
    ])
    await writeUsage(sql as never, [
      { minute: Date.parse('2025-04-01T10:45:00Z'), principal: 'ann', model: 'claude-opus-4-6', upstream: 'anthropic', long: false, fast: true, v: v(5, 300) },
    ])
    const hours = await sql`select to_char(hour at time zone 'UTC', 'HH24') as h, fast, requests::int as n, input_tokens::int as i from usage_hours where model = 'claude-opus-4-6' order by hour, fast`
    t.same(hours.map((r) => [r.h, r.fast, r.n, r.i]), [['10', true, 2, 15], ['11', false, 1, 20]], 'the hourly upsert sums the minutes of an hour and adds to what the row holds')
    const APRIL = 'starting_at=2025-04-01T00:00:00Z&ending_at=2025-04-02T00:00:00Z'
    const bySpeed = await results(`/usage_report/messages?${APRIL}&group_by[]=speed&group_by[]=model`)
    t.same(bySpeed[0]?.results.map((x) => [x.speed, x.model, x.uncached_input_tokens]), [['fast', 'claude-opus-4-6', 15], ['standard', 'claude-opus-4-6', 20]])
    t.same((await results(`/usage_report/messages?${APRIL}&speeds[]=fast`))[0]?.results.map((x) => x.uncached_input_tokens), [15], 'speeds[] filters')
    t.same((await results(`/usage_report/messages?${APRIL}&service_tiers[]=standard&inference_geos[]=not_available`))[0]?.results.map((x) => x.uncached_input_tokens), [35], "Weir's one tier and geo keep everything")
    t.same((await results(`/usage_report/messages?${APRIL}&service_tiers[]=batch`))[0]?.results, [], 'another tier keeps nothing')
    const cost = await results(`/cost_report?${APRIL}&group_by[]=speed`)
    t.same(cost[0]?.results.map((x) => [x.speed, x.amount]), [['fast', '0.0009'], ['standard', '0.0001']], 'cost by speed, exact')
    const minutes = await results(`/usage_report/messages?bucket_width=1m&starting_at=${new Date(Date.now() - 60_000).toISOString()}&speeds[]=standard&speeds[]=fast`)
    t.ok(minutes.length >= 1, 'speeds[] on minute buckets')

    // Anthropic's documented example result (Get Messages Usage Report), field by field: the
    // same fields with the same types; Weir writes null where it has no such thing.
    const documented: Record<string, unknown> = {
      account_id: 'user_01WCz1FkmYMm4gnmykNKUu3Q', api_key_id: 'apikey_01Rj2N8SVvo6BePZj99NhmiT',
      cache_creation: { ephemeral_1h_input_tokens: 1000, ephemeral_5m_input_tokens: 500 }, cache_read_input_tokens: 200,
      context_window: '0-200k', inference_geo: 'global', model: 'claude-opus-4-6', output_tokens: 500,
      server_tool_use: { web_search_requests: 10 }, service_account_id: 'svac_01Hk3R9TWxq7CfQak00OiVw4', service_tier: 'standard',
      uncached_input_tokens: 1500, workspace_id: 'wrkspc_01JwQvzr7rXLA5AGx3HKfFUJ',
    }
    const all = (await get(url, `/usage_report/messages?${APRIL}&group_by[]=account_id&group_by[]=api_key_id&group_by[]=context_window&group_by[]=inference_geo&group_by[]=model&group_by[]=service_account_id&group_by[]=service_tier&group_by[]=workspace_id`)).json()
    t.same(Object.keys(all).sort(), ['data', 'has_more', 'next_page'])
    t.same(Object.keys(all.data[0]).sort(), ['ending_at', 'results', 'starting_at'])
    const ours = all.data[0].results[0] as Record<string, unknown>
    t.same(Object.keys(ours).sort(), Object.keys(documented).sort(), 'the documented fields, no more, no fewer')
    const kind = (x: unknown): string => (x === null ? 'null' : Array.isArray(x) ? 'array' : typeof x)
    for (const [k, doc] of Object.entries(documented)) {
      const mine = ours[k]
      if (kind(doc) === 'object') t.same(Object.keys(mine as object).sort(), Object.keys(doc as object).sort(), `${k}: same keys`)
      else if (['api_key_id', 'workspace_id', 'service_account_id'].includes(k)) t.equal(mine, null, `${k}: null (Weir has none)`)
      else t.equal(kind(mine), kind(doc), `${k}: ${kind(doc)}`)
    }
    t.same([ours.account_id, ours.context_window, ours.inference_geo, ours.model, ours.service_tier, ours.uncached_input_tokens, ours.output_tokens],
      ['ann', '0-200k', 'not_available', 'claude-opus-4-6', 'standard', 35, 3])
    const plain = (await results(`/usage_report/messages?${APRIL}`))[0]?.results[0] as Record<string, unknown>
    t.same(Object.keys(plain).sort(), Object.keys(documented).sort(), 'ungrouped: the same fields')
    t.same(['account_id', 'api_key_id', 'context_window', 'inference_geo', 'model', 'service_account_id', 'service_tier', 'workspace_id'].map((k) => plain[k]), Array(8).fill(null), 'every dimension null when not grouped by')

    // Get Cost Report's documented result fields.
    const costFields = ['amount', 'context_window', 'cost_type', 'currency', 'description', 'inference_geo', 'model', 'service_tier', 'token_type', 'workspace_id']
    const described = await results(`/cost_report?${APRIL}&group_by[]=description&group_by[]=workspace_id`)
    for (const x of described[0]?.results ?? []) t.same(Object.keys(x).sort(), costFields, `${String(x.description)}: the documented fields`)
    t.same(Object.keys((await results(`/cost_report?${APRIL}`))[0]?.results[0] ?? {}).sort(), costFields)
    t.match(described[0]?.results[0], { amount: '0.001', currency: 'USD', cost_type: 'tokens', description: 'claude-opus-4-6 Usage - Input Tokens', model: 'claude-opus-4-6', service_tier: 'standard', token_type: 'uncached_input_tokens', context_window: '0-200k', inference_geo: null, workspace_id: null })
  })

  await t.test('credentials: read key and admin-group bearer read; others are refused in the envelope', async (t) => {
    const path = `/cost_report?${MARCH}`
    const none = await get(url, path, null)
    t.equal(none.status, 401)
    t.same(none.json(), { type: 'error', error: { type: 'authentication_error', message: 'missing or invalid admin credentials' }, request_id: none.headers['request-id'] })
    t.equal((await get(url, path, 'x'.repeat(40))).status, 401, 'an unknown key')
    t.equal((await get(url, path, null, { authorization: `Bearer ${bearer('u-dev', ['eng'])}` })).status, 401, 'a bearer outside admin_groups')
    t.equal((await get(url, `/usage_report/messages?${MARCH}`, null, { authorization: `Bearer ${bearer('u-fin', ['finops'])}` })).status, 200, 'an admin-group bearer')
    t.equal((await get(url, path, WRITE_KEY)).status, 200, 'a write key reads too')
    const postIt = await req(`${url}/v1/organizations/cost_report`, { method: 'POST', headers: { 'x-api-key': WRITE_KEY } })
    t.equal(postIt.status, 404)
    t.equal((await get(url, '/usage_report/nope?starting_at=2025-03-01T00:00:00Z')).status, 404)
  })

  await t.test('bad parameters are 400s naming the parameter', async (t) => {
    const cases: Array<[string, string]> = [
      ['/usage_report/messages', 'starting_at: Required'],
      ['/usage_report/messages?starting_at=yesterday', 'starting_at: must be an RFC 3339 timestamp such as 2025-01-01T00:00:00Z'],
      ['/usage_report/messages?starting_at=2025-13-01T00:00:00Z', 'starting_at: must be an RFC 3339 timestamp such as 2025-01-01T00:00:00Z'],
      [`/usage_report/messages?${MARCH}&bucket_width=2d`, 'bucket_width: must be one of 1d, 1h, 1m'],
      [`/usage_report/messages?${MARCH}&limit=0`, 'limit: must be an integer between 1 and 31 for bucket_width 1d'],
      [`/usage_report/messages?${MARCH}&limit=32`, 'limit: must be an integer between 1 and 31 for bucket_width 1d'],
      [`/usage_report/messages?${MARCH}&bucket_width=1h&limit=169`, 'limit: must be an integer between 1 and 168 for bucket_width 1h'],
      [`/usage_report/messages?starting_at=${new Date(Date.now() - 3_600_000).toISOString()}&bucket_width=1m&limit=1441`, 'limit: must be an integer between 1 and 1440 for bucket_width 1m'],
      [`/usage_report/messages?${MARCH}&bucket_width=1m`, 'starting_at: minute buckets (bucket_width 1m) reach back 31 days; use 1h or 1d for older usage'],
      [`/usage_report/messages?${MARCH}&group_by[]=fast`, "group_by[]: 'fast' is not one of model, context_window, account_id, speed, user_email, idp_group, upstream, api_key_id, workspace_id, service_tier, inference_geo, service_account_id"],
      [`/usage_report/messages?${MARCH}&speeds[]=quick`, "speeds[]: 'quick' is not one of standard, fast"],
      [`/usage_report/messages?${MARCH}&context_window[]=1M`, "context_window[]: '1M' is not one of 0-200k, 200k-1M"],
      [`/usage_report/messages?${MARCH}&service_tiers[]=gold`, "service_tiers[]: 'gold' is not one of standard, batch, priority, priority_on_demand, flex, flex_discount"],
      [`/usage_report/messages?${MARCH}&api_key_ids[]=k`, 'api_key_ids[]: not supported: Weir has no API keys (every result has api_key_id null); filter by account_ids[] or user_emails[]'],
      [`/usage_report/messages?${MARCH}&service_account_ids[]=s`, 'service_account_ids[]: not supported: Weir has no service accounts (every result has service_account_id null)'],
      [`/usage_report/messages?${MARCH}&colour[]=red`, 'colour[]: unknown query parameter'],
      [`/usage_report/messages?${MARCH}&group_by[]=model&group_by=model`, 'group_by[]: a value is given twice'],
      [`/usage_report/messages?${MARCH}&workspace_ids[]=w`, 'workspace_ids[]: not supported: Weir has no workspaces (every result has workspace_id null)'],
      [`/usage_report/messages?${MARCH}&page=zzz`, 'page: invalid page token'],
      [`/usage_report/messages?${MARCH}&page=page_${Buffer.from('2025-03-01T12:00:00Z').toString('base64url')}`, 'page: invalid page token'],
      [`/usage_report/messages?${MARCH}&page=page_${Buffer.from('2025-04-01T00:00:00Z').toString('base64url')}`, 'page: invalid page token'],
      ['/usage_report/messages?starting_at=2025-03-02T00:00:00Z&ending_at=2025-03-01T00:00:00Z', 'ending_at: must be after starting_at'],
      [`/usage_report/messages?${MARCH}&starting_at=2025-03-01T00:00:00Z`, 'starting_at: given more than once'],
      [`/usage_report/messages?${MARCH}&models[]=`, 'models[]: values must be non-empty and at most 512 characters'],
      [`/cost_report?${MARCH}&group_by[]=model`, "group_by[]: 'model' is not one of description, workspace_id, account_id, speed, user_email, idp_group, upstream"],
    ]
    for (const [path, message] of cases) {
      const r = await get(url, path)
      t.equal(r.status, 400, path)
      t.same(r.json(), { type: 'error', error: { type: 'invalid_request_error', message }, request_id: r.headers['request-id'] }, message)
    }
  })
})
