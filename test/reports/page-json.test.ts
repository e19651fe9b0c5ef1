/**
 * The messages and cost reports, now written as JSON text (lib/reports/json.ts), against an
 * independent computation: the raw ledger rows read back from Postgres, summed here per bucket and
 * dimension in BigInt, shaped as the Admin API documents each result (field for field, in the
 * documented order) and passed through JSON.stringify. Every page of every shape must equal that
 * text byte for byte — so a missing, extra, reordered or changed result, amount or field fails.
 * The data: developers with emails that need escaping, without an identity, in several groups or
 * none; token sums beyond 2^53 (written as the double the object form gave); costs up to 10^15
 * micro-cents, exact to the micro-cent; three widths, paged one bucket at a time and several.
 */
import t from 'tap'
import { costReport } from '../../lib/reports/cost.js'
import { writeUsage } from '../../lib/reports/ledger.js'
import { messagesUsage } from '../../lib/reports/messages.js'
import type { UsageRow } from '../../lib/metering/usage.js'
import type { Sql } from '../../lib/store/db.js'
import { freshDatabase } from '../helpers/pg.js'
import { prng } from '../helpers/prng.js'

const HOUR = 3_600_000
const DAY = 86_400_000
const START = Date.parse('2026-03-02T00:00:00Z')
const DAYS = 3
const NOW = START + DAYS * DAY
const TOKENS = ['input_tokens', 'cache_write_1h_tokens', 'cache_write_5m_tokens', 'cache_read_tokens', 'output_tokens', 'web_search_requests']
const COSTS = ['input_micro_cents', 'output_micro_cents', 'cache_read_micro_cents', 'cache_write_5m_micro_cents', 'cache_write_1h_micro_cents', 'web_search_micro_cents']
/** UsageRow.v order (lib/reports/ledger.ts SUMS). */
const V = ['requests', 'input_tokens', 'output_tokens', 'cache_read_tokens', 'cache_write_5m_tokens', 'cache_write_1h_tokens', 'web_search_requests',
  'input_micro_cents', 'output_micro_cents', 'cache_read_micro_cents', 'cache_write_5m_micro_cents', 'cache_write_1h_micro_cents', 'web_search_micro_cents']
const PEOPLE = Array.from({ length: 40 }, (_x, i) => `sub-${String(i).padStart(2, '0')}`)

interface Raw { at: number, p: string, model: string, upstream: string, long: boolean, fast: boolean, v: Record<string, bigint> }
interface Who { email: string | null, groups: string[] }

/** Cents from micro-cents, exact: written here without lib/reports/money.ts. */
function cents (micro: bigint): string {
  const s = micro.toString().padStart(7, '0')
  const whole = s.slice(0, -6).replace(/^0+(?=\d)/, '')
  const frac = s.slice(-6).replace(/0+$/, '')
  return frac === '' ? whole : `${whole}.${frac}`
}

/** Byte order (the test server's C collation), nulls last. */
const cmp = (a: string | null, b: string | null): number => a === b ? 0 : a === null ? 1 : b === null ? -1 : Buffer.compare(Buffer.from(a), Buffer.from(b))

/** Rows of `raw` in [from, to) summed per bucket of `width` and per dimension values. */
function sums (raw: readonly Raw[], who: ReadonlyMap<string, Who>, width: number, from: number, to: number, dims: readonly string[]): Map<number, Array<{ d: Array<string | null>, s: Record<string, bigint> }>> {
  const value = (r: Raw, d: string): Array<string | null> => {
    const w = who.get(r.p)
    switch (d) {
      case 'account_id': return [r.p]
      case 'user_email': return [w?.email ?? null]
      case 'idp_group': return w === undefined || w.groups.length === 0 ? [null] : w.groups
      case 'model': return [r.model]
      case 'upstream': return [r.upstream === '' ? null : r.upstream]
      case 'context_window': return [r.long ? '200k-1M' : '0-200k']
      case 'speed': return [r.fast ? 'fast' : 'standard']
    }
    throw new Error(d)
  }
  const out = new Map<number, Map<string, { d: Array<string | null>, s: Record<string, bigint> }>>()
  for (const r of raw) {
    if (r.at < from || r.at >= to) continue
    const b = Math.floor(r.at / width) * width
    let keys: Array<Array<string | null>> = [[]]
    for (const d of dims) keys = keys.flatMap((k) => value(r, d).map((x) => [...k, x]))
    const inB = out.get(b) ?? new Map()
    out.set(b, inB)
    for (const k of keys) {
      const id = JSON.stringify(k)
      const e = inB.get(id) ?? { d: k, s: Object.fromEntries([...TOKENS, ...COSTS].map((c) => [c, 0n])) }
      inB.set(id, e)
      for (const c of [...TOKENS, ...COSTS]) e.s[c] = (e.s[c] as bigint) + (r.v[c] as bigint)
    }
  }
  const sorted = new Map<number, Array<{ d: Array<string | null>, s: Record<string, bigint> }>>()
  for (const [b, m] of out) {
    sorted.set(b, [...m.values()].sort((x, y) => { for (let i = 0; i < x.d.length; i++) { const c = cmp(x.d[i] ?? null, y.d[i] ?? null); if (c !== 0) return c } return 0 }))
  }
  return sorted
}

const CONST: Record<string, string | null> = { api_key_id: null, workspace_id: null, service_account_id: null, service_tier: 'standard', inference_geo: 'not_available' }
const DOCUMENTED = ['account_id', 'api_key_id', 'workspace_id', 'model', 'service_tier', 'context_window', 'inference_geo', 'service_account_id']

function messagesResult (groupBy: readonly string[], dims: readonly string[], e: { d: Array<string | null>, s: Record<string, bigint> }): object {
  const v = (d: string): string | null => !groupBy.includes(d) ? null : d in CONST ? CONST[d] as string | null : e.d[dims.indexOf(d)] ?? null
  const n = (c: string): number => Number(e.s[c])
  const out: Record<string, unknown> = {
    uncached_input_tokens: n('input_tokens'),
    cache_creation: { ephemeral_1h_input_tokens: n('cache_write_1h_tokens'), ephemeral_5m_input_tokens: n('cache_write_5m_tokens') },
    cache_read_input_tokens: n('cache_read_tokens'),
    output_tokens: n('output_tokens'),
    server_tool_use: { web_search_requests: n('web_search_requests') },
  }
  for (const d of DOCUMENTED) out[d] = v(d)
  for (const d of groupBy) if (!DOCUMENTED.includes(d)) out[d] = v(d)
  return out
}

const KIND: Array<[string, string, string | null, string]> = [
  ['input_micro_cents', 'tokens', 'uncached_input_tokens', 'Input Tokens'], ['output_micro_cents', 'tokens', 'output_tokens', 'Output Tokens'],
  ['cache_read_micro_cents', 'tokens', 'cache_read_input_tokens', 'Input Tokens, Cache Read'],
  ['cache_write_5m_micro_cents', 'tokens', 'cache_creation.ephemeral_5m_input_tokens', 'Input Tokens, Cache Write (5 minutes)'],
  ['cache_write_1h_micro_cents', 'tokens', 'cache_creation.ephemeral_1h_input_tokens', 'Input Tokens, Cache Write (1 hour)'],
  ['web_search_micro_cents', 'web_search', null, 'Web Search'],
]

function costResults (groupBy: readonly string[], ext: readonly string[], e: { d: Array<string | null>, s: Record<string, bigint> }): object[] {
  const extFields = Object.fromEntries(ext.map((d, i) => [d, e.d[i] ?? null]))
  if (!groupBy.includes('description')) {
    const total = COSTS.reduce((a, c) => a + (e.s[c] as bigint), 0n)
    return [{ amount: cents(total), currency: 'USD', cost_type: null, description: null, model: null, service_tier: null, token_type: null, context_window: null, inference_geo: null, workspace_id: null, ...extFields }]
  }
  const model = e.d[ext.length] ?? null
  const window = e.d[ext.length + 1] ?? null
  return KIND.filter(([c]) => e.s[c] !== 0n).map(([c, type, token, what]) => ({
    amount: cents(e.s[c] as bigint),
    currency: 'USD',
    cost_type: type,
    description: type === 'tokens' ? `${model ?? 'unknown model'} Usage - ${what}${window === '200k-1M' ? ' (Long Context)' : ''}` : `${model ?? 'unknown model'} - ${what}`,
    model: type === 'tokens' ? model : null,
    service_tier: type === 'tokens' ? 'standard' : null,
    token_type: token,
    context_window: type === 'tokens' ? window : null,
    inference_geo: null,
    workspace_id: null,
    ...extFields,
  }))
}

async function ledger (sql: Sql): Promise<{ raw: Raw[], minutes: Raw[], who: Map<string, Who> }> {
  const read = async (table: string, at: string): Promise<Raw[]> => (await sql.unsafe(`select extract(epoch from ${at})::bigint::text as at, principal, model, upstream, long_context, fast, ${[...TOKENS, ...COSTS].map((c) => `${c}::text`).join(', ')} from ${table}`) as unknown as Array<Record<string, string | boolean>>)
    .map((r) => ({ at: Number(r.at) * 1000, p: r.principal as string, model: r.model as string, upstream: r.upstream as string, long: r.long_context as boolean, fast: r.fast as boolean, v: Object.fromEntries([...TOKENS, ...COSTS].map((c) => [c, BigInt(r[c] as string)])) }))
  const who = new Map<string, Who>()
  for (const r of await sql<Array<{ principal: string, email: string | null, groups: unknown }>>`select principal, email, groups from principal_emails`) {
    who.set(r.principal, { email: r.email, groups: Array.isArray(r.groups) ? r.groups as string[] : [] })
  }
  return { raw: await read('usage_hours', 'hour'), minutes: await read('usage_minutes', 'minute'), who }
}

t.test('messages and cost pages equal, byte for byte, the documented shapes summed from the raw ledger', async (t) => {
  const { sql } = await freshDatabase(t, { migrate: true })
  const rand = prng(17_024)
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)] as T
  // Identities: emails that need escaping, one developer in two groups, one in none, and the last
  // five never seen (null email and group).
  for (const [i, p] of PEOPLE.slice(0, 35).entries()) {
    const email = i === 0 ? 'quote"back\\slash@example.com' : i === 1 ? 'zoë.ünïcode@example.com' : i === 2 ? 'tab\tnewline\n@example.com' : `dev${i}@example.com`
    const groups = i === 3 ? [] : i % 4 === 0 ? ['eng', 'ml'] : [pick(['eng', 'ops', 'sales'])]
    await sql`insert into principal_emails (principal, email, groups) values (${p}, ${email}, ${sql.json(groups)})`
  }
  const rows: UsageRow[] = []
  const seen = new Set<string>()
  for (let i = 0; i < 1500; i++) {
    const r = { minute: START + Math.floor(rand() * DAYS * 1440) * 60_000, principal: pick(PEOPLE), model: pick(['claude-sonnet-4-5', 'claude-haiku-4-5', 'claude-opus-4-6']), upstream: pick(['anthropic', 'bedrock', '']), long: rand() < 0.2, fast: rand() < 0.15 }
    const k = JSON.stringify(r)
    if (seen.has(k)) continue
    seen.add(k)
    // A few huge rows: token sums beyond 2^53, costs up to 10^15 micro-cents; some kinds zero.
    const big = rand() < 0.02
    rows.push({ ...r, v: V.map((c, j) => j === 0 ? 1 : rand() < 0.1 ? 0 : Math.floor(rand() * (big ? 4e15 : c.endsWith('micro_cents') ? 1e9 : 1e6))) })
  }
  await writeUsage(sql, rows)
  const { raw, minutes, who } = await ledger(sql)
  t.ok(raw.some((r) => (r.v.input_tokens as bigint) > 2n ** 53n / 4n), 'some token values are huge')

  const shapes: Array<{ report: 'messages' | 'cost', width: '1d' | '1h' | '1m', limit: number, groupBy: string[], filter?: string }> = [
    { report: 'messages', width: '1d', limit: 1, groupBy: ['account_id'] },
    { report: 'messages', width: '1d', limit: 1, groupBy: ['user_email'] },
    { report: 'messages', width: '1d', limit: 2, groupBy: ['user_email', 'model', 'speed'] },
    { report: 'messages', width: '1d', limit: 7, groupBy: [] },
    { report: 'messages', width: '1d', limit: 3, groupBy: ['model', 'context_window', 'service_tier', 'inference_geo', 'api_key_id'] },
    { report: 'messages', width: '1d', limit: 3, groupBy: ['idp_group', 'upstream'] },
    { report: 'messages', width: '1h', limit: 24, groupBy: ['account_id', 'upstream'] },
    { report: 'messages', width: '1m', limit: 600, groupBy: ['model'] },
    { report: 'cost', width: '1d', limit: 1, groupBy: ['user_email'] },
    { report: 'cost', width: '1d', limit: 1, groupBy: ['account_id', 'idp_group'] },
    { report: 'cost', width: '1d', limit: 2, groupBy: [] },
    { report: 'cost', width: '1d', limit: 3, groupBy: ['description'] },
    { report: 'cost', width: '1d', limit: 1, groupBy: ['description', 'user_email', 'workspace_id'] },
    { report: 'cost', width: '1h', limit: 48, groupBy: ['upstream', 'speed'] },
    { report: 'cost', width: '1d', limit: 2, groupBy: ['account_id'], filter: 'user_emails[]=DEV5@example.com&user_emails[]=dev6@example.com' },
  ]
  let totalResults = 0
  for (const s of shapes) {
    const widthMs = s.width === '1d' ? DAY : s.width === '1h' ? HOUR : 60_000
    const from = s.width === '1m' ? START + DAYS * DAY - 1200 * 60_000 : START
    const to = s.width === '1m' ? from + 1200 * 60_000 : START + DAYS * DAY
    const query = `starting_at=${new Date(from).toISOString()}&ending_at=${new Date(to).toISOString()}&bucket_width=${s.width}&limit=${s.limit}${s.groupBy.map((g) => `&group_by[]=${g}`).join('')}${s.filter === undefined ? '' : `&${s.filter}`}`
    const ext = s.report === 'cost' ? s.groupBy.filter((d) => ['account_id', 'speed', 'user_email', 'idp_group', 'upstream'].includes(d)) : []
    const dims = s.report === 'messages' ? s.groupBy.filter((d) => !(d in CONST)) : s.groupBy.includes('description') ? [...ext, 'model', 'context_window'] : ext
    const keep = s.filter === undefined ? (): boolean => true : (r: Raw): boolean => ['dev5@example.com', 'dev6@example.com'].includes(who.get(r.p)?.email ?? '')
    const want = sums((s.width === '1m' ? minutes : raw).filter(keep), who, widthMs, from, to, dims)
    let page: string | null = null
    let pages = 0
    let results = 0
    for (let b = from; b < to; b += s.limit * widthMs) {
      const q = new URLSearchParams(query + (page === null ? '' : `&page=${page}`))
      const r = s.report === 'messages' ? await messagesUsage(sql, q, NOW) : await costReport(sql, q, NOW)
      if (!('json' in r) || typeof r.json !== 'string') { t.fail(`${s.report} ${query}: ${JSON.stringify(r)}`); break }
      const end = Math.min(to, b + s.limit * widthMs)
      const data = []
      for (let x = b; x < end; x += widthMs) {
        const es = want.get(x) ?? []
        const res = s.report === 'messages' ? es.map((e) => messagesResult(s.groupBy, dims, e)) : es.flatMap((e) => costResults(s.groupBy, ext, e))
        results += res.length
        data.push({ starting_at: new Date(x).toISOString().replace('.000Z', 'Z'), ending_at: new Date(x + widthMs).toISOString().replace('.000Z', 'Z'), results: res })
      }
      const got = JSON.parse(r.json) as { next_page: string | null }
      const expect = JSON.stringify({ data, has_more: end < to, next_page: end < to ? got.next_page : null })
      if (r.json !== expect) t.same(JSON.parse(r.json), JSON.parse(expect), `${s.report} ${query} page ${pages + 1}`)
      t.equal(r.json, expect, `${s.report} group_by ${s.groupBy.join(',') || '(none)'} ${s.width} ×${s.limit}${s.filter === undefined ? '' : ' filtered'}: page ${pages + 1} byte for byte`)
      t.equal(typeof got.next_page === 'string', end < to, 'a next page exactly when buckets remain')
      page = got.next_page
      pages++
    }
    t.ok(results > 0, `${s.report} ${s.groupBy.join(',')}: ${results} results over ${pages} pages`)
    totalResults += results
  }
  t.ok(totalResults > 2000, `${totalResults} results compared`)
})
