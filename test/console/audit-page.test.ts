/**
 * The console's audit page and overview data (lib/console/primary.ts) against real Postgres, every
 * reply compared with a reference computed here from the table's own rows:
 * - pages walked by `before_id` give exactly the trail newest first by numeric id (the trail crosses
 *   ids 999 → 1000 and 9999 → 10000, where an order by the id's text would go wrong), with and
 *   without actor and action filters, each row's fields as stored, `has_more` true exactly when an
 *   older matching row exists;
 * - the target substring search examines at most AUDIT_SEARCH_WINDOW rows a request: each reply is
 *   the matches inside that window, `more_may_match`/`searched_to_id` say when older rows were left
 *   unexamined, and following them finds every match, in order, once;
 * - the list of actions is the distinct actions in the table at the moment of the request: a new
 *   action shows on the next request, an action whose rows are gone leaves it (nothing cached);
 * - the page queries' plans: the newest-first page and the filtered pages are index scans (no
 *   sequential scan of the trail, no sort of it), the action list reads the (action, id) index;
 * - the overview's sums, people counts and organization caps per period, exact to the micro-cent.
 */
import t from 'tap'
import postgres from 'postgres'
import { AUDIT_SEARCH_WINDOW, handleConsole } from '../../lib/console/primary.js'
import { centsText } from '../../lib/admin/shapes.js'
import { bucketKey } from '../../lib/metering/periods.js'
import type { Sql } from '../../lib/store/db.js'
import { freshDatabase } from '../helpers/pg.js'

const N = 25_000
const ACTIONS = ['spend_limit.upsert', 'spend_limit.delete', 'principal.sign_out', 'principal.erase']

interface Event { id: string, created_at: string, actor: string, action: string, target_id: string, before: unknown, after: unknown, reason: string | null }
interface Page { data: Event[], has_more: boolean, actions: string[], more_may_match?: boolean, searched_to_id?: string | null }

async function page (sql: Sql, query: string): Promise<Page> {
  const r = await handleConsole(sql, { path: '/audit', query })
  if (!('json' in r)) throw new Error(`/audit?${query}: ${JSON.stringify(r)}`)
  return r.json as Page
}

/** Every page of a filter, following `before_id` from each page's last row. */
async function walk (sql: Sql, filter: string, limit: number): Promise<{ ids: string[], pages: number }> {
  const ids: string[] = []
  let before: string | null = null
  for (let pages = 1; pages < 10_000; pages++) {
    const p = await page(sql, `limit=${limit}${filter}${before === null ? '' : `&before_id=${before}`}`)
    ids.push(...p.data.map((e) => e.id))
    if (!p.has_more) return { ids, pages }
    before = p.data.at(-1)?.id ?? null
  }
  throw new Error('no end')
}

t.test('the audit page at scale', async (t) => {
  const { sql } = await freshDatabase(t, { migrate: true })
  // A trail of N rows: 3 actors, 4 actions in a pattern that is not periodic with the actors, a
  // rare action, targets naming 700 users, timestamps one minute apart.
  await sql`insert into admin_audit (at, actor, action, target, before, after, reason)
    select timestamptz '2026-01-01T00:00:00Z' + make_interval(mins => i), 'oidc:admin-' || (i % 3),
      case when i % 997 = 0 then 'config.rare' else (${sql.array(ACTIONS)}::text[])[1 + (i * 7 / 3) % 4] end,
      'user:u' || lpad((i % 700)::text, 4, '0'),
      case when i % 2 = 0 then jsonb_build_object('amount', i) end, jsonb_build_object('amount', i + 1), case when i % 5 = 0 then 'review ' || i end
    from generate_series(1, ${N}::int) i`
  await sql`analyze admin_audit`
  const all = await sql<Array<{ id: string, at: Date, actor: string, action: string, target: string, before: unknown, after: unknown, reason: string | null }>>`
    select id::text as id, at, actor, action, target, before, after, reason from admin_audit`
  all.sort((a, b) => Number(b.id) - Number(a.id))
  t.equal(all.length, N)
  t.equal(all[0]?.id, String(N), 'ids run up to N')
  const expect = (keep: (r: typeof all[number]) => boolean): string[] => all.filter(keep).map((r) => r.id)

  await t.test('newest first by numeric id, every page, with each filter', async (t) => {
    const first = await page(sql, 'limit=50')
    t.same(first.data[0], { id: String(N), created_at: all[0]?.at.toISOString(), actor: all[0]?.actor, action: all[0]?.action, target_id: all[0]?.target, before: all[0]?.before ?? null, after: all[0]?.after, reason: all[0]?.reason }, 'a row as stored')
    t.same(first.data.map((e) => e.id), expect(() => true).slice(0, 50))
    t.equal(first.has_more, true)
    t.equal(first.more_may_match, undefined, 'no search signal without a target')
    // Across the digit boundaries: ids below 1010 and below 10005, newest first.
    t.same((await page(sql, 'limit=20&before_id=1010')).data.map((e) => e.id), Array.from({ length: 20 }, (_, i) => String(1009 - i)), 'before_id=1010 crosses 999 → 1000 in numeric order')
    t.same((await page(sql, 'limit=20&before_id=10005')).data.map((e) => e.id), Array.from({ length: 20 }, (_, i) => String(10004 - i)), 'before_id=10005 crosses 9999 → 10000')
    const tail = await page(sql, 'limit=200&before_id=3')
    t.same(tail.data.map((e) => e.id), ['2', '1'])
    t.equal(tail.has_more, false, 'the oldest page says there is nothing older')
    const full = await walk(sql, '', 200)
    t.same(full.ids, expect(() => true), 'walking every page of 200 gives the whole trail once, in order')
    t.equal(full.pages, Math.ceil(N / 200))
    t.same((await walk(sql, '&action=principal.erase', 200)).ids, expect((r) => r.action === 'principal.erase'), 'action filter, every page')
    t.same((await walk(sql, '&action=config.rare', 7)).ids, expect((r) => r.action === 'config.rare'), 'a rare action, pages of 7')
    t.same((await walk(sql, '&actor=oidc:admin-1', 200)).ids, expect((r) => r.actor === 'oidc:admin-1'), 'actor filter, every page')
    t.same((await walk(sql, '&actor=oidc:admin-2&action=spend_limit.delete', 200)).ids, expect((r) => r.actor === 'oidc:admin-2' && r.action === 'spend_limit.delete'), 'actor and action')
    const none = await page(sql, 'limit=50&action=no.such')
    t.same([none.data, none.has_more], [[], false])
    const exact = await page(sql, `limit=${expect((r) => r.action === 'config.rare').length}&action=config.rare`)
    t.equal(exact.has_more, false, 'a page holding exactly the last matching rows has no more')
  })

  await t.test('a target search is bounded to a window and says when more may match', async (t) => {
    const W = AUDIT_SEARCH_WINDOW
    t.ok(N > 2 * W, 'the trail is longer than two windows')
    for (const [filter, keep] of [
      ['&target=u0042', (r: typeof all[number]) => r.target.includes('u0042')],
      ['&target=U0042&actor=oidc:admin-0', (r: typeof all[number]) => r.target.includes('u0042') && r.actor === 'oidc:admin-0'],
      ['&target=u00&action=principal.sign_out', (r: typeof all[number]) => r.target.includes('u00') && r.action === 'principal.sign_out'],
      ['&target=_', () => false],
    ] as const) {
      const others = all.filter((r) => (!filter.includes('actor=') || r.actor === 'oidc:admin-0') && (!filter.includes('action=') || r.action === 'principal.sign_out'))
      const found: string[] = []
      let before: string | null = null
      let requests = 0
      for (; requests < 100; requests++) {
        const p = await page(sql, `limit=25${filter}${before === null ? '' : `&before_id=${before}`}`)
        // The reference: the W newest rows below the cursor that pass the other filters.
        const below = others.filter((r) => before === null || Number(r.id) < Number(before))
        const window = below.slice(0, W)
        const hits = window.filter(keep)
        t.same(p.data.map((e) => e.id), hits.slice(0, 25).map((r) => r.id), `${filter} request ${requests}: the window's matches`)
        t.equal(p.has_more, hits.length > 25)
        const cut = hits.length <= 25 && below.length > W
        t.equal(p.more_may_match, cut, 'more_may_match exactly when the window ended before the rows did')
        t.equal(p.searched_to_id, cut ? window.at(-1)?.id : null)
        found.push(...p.data.map((e) => e.id))
        if (p.has_more) before = p.data.at(-1)?.id ?? null
        else if (p.more_may_match === true) before = p.searched_to_id ?? null
        else break
      }
      t.same(found, all.filter((r) => others.includes(r) && keep(r)).map((r) => r.id), `${filter}: following the signals finds every match once, in order`)
      if (others.length > W) t.ok(requests >= 2, `${filter}: the search needed more than one window`)
    }
  })

  await t.test('the action list is read fresh: a new action appears, a vanished one leaves', async (t) => {
    t.same((await page(sql, 'limit=1')).actions, [...ACTIONS, 'config.rare'].sort())
    await sql`insert into admin_audit (actor, action, target) values ('oidc:admin-0', 'principal.erase_data', 'u-1'), ('oidc:admin-0', 'a.first', 'x')`
    t.same((await page(sql, 'limit=1')).actions, [...ACTIONS, 'config.rare', 'principal.erase_data', 'a.first'].sort(), 'audited actions show on the next request')
    const filtered = await page(sql, 'limit=1&action=spend_limit.delete')
    t.ok(filtered.actions.includes('a.first'), 'the list ignores the page filters')
    await sql`delete from admin_audit where action in ('config.rare', 'a.first')`
    t.same((await page(sql, 'limit=1')).actions, [...ACTIONS, 'principal.erase_data'].sort(), 'actions whose rows were swept are gone')
    await sql`insert into admin_audit (actor, action, target) values ('x', 'a.first', 'y')`
    t.ok((await page(sql, 'limit=1')).actions.includes('a.first'), 'and come back when audited again')
  })

  await t.test('bad input', async (t) => {
    for (const q of ['before_id=abc', 'before_id=-1', 'limit=0', 'limit=201', 'limit=1.5']) {
      const r = await handleConsole(sql, { path: '/audit', query: q })
      t.equal('error' in r ? r.error : null, 'GW_BAD_REQUEST', q)
    }
  })

  await t.test('the page queries are index scans, the action list an index probe per action', async (t) => {
    // The statements as the handler sends them, captured from a client of its own.
    const seen: Array<{ query: string, params: unknown[] }> = []
    const spy = postgres({ ...connectionOf(sql), max: 1, onnotice: () => {}, debug: (_c: number, query: string, params: unknown[]) => { seen.push({ query, params }) } })
    t.teardown(async () => { await spy.end({ timeout: 1 }) })
    const plan = async (query: string): Promise<string[]> => {
      seen.length = 0
      await handleConsole(spy as unknown as Sql, { path: '/audit', query })
      const out: string[] = []
      for (const s of seen.filter((x) => x.query.includes('admin_audit'))) {
        const rows = await sql.unsafe<Array<{ 'QUERY PLAN': string }>>(`explain ${s.query}`, s.params as never[])
        out.push(rows.map((r) => r['QUERY PLAN']).join('\n'))
      }
      return out
    }
    const [first, actions] = await plan('limit=50')
    t.match(first, /Index Scan Backward using admin_audit_pkey/, 'the newest page walks the primary key backwards')
    t.notMatch(first, /Seq Scan|Sort/, 'and neither reads nor sorts the whole trail')
    t.match(actions, /admin_audit_action_id/, 'the action list reads the (action, id) index')
    t.notMatch(actions, /Seq Scan/)
    const [older] = await plan('limit=50&before_id=12000')
    t.match(older, /Index Scan Backward using admin_audit_pkey[\s\S]*Index Cond: \(id < /, 'an older page starts at before_id in the index')
    t.notMatch(older, /Seq Scan|Sort/)
    for (const q of ['limit=50&action=principal.erase', 'limit=50&action=config.rare', 'limit=50&actor=oidc:admin-1&before_id=20000']) {
      const [p] = await plan(q)
      t.notMatch(p, /Seq Scan/, `${q}: no sequential scan`)
    }
    const [search] = await plan('limit=50&target=u0042')
    t.match(search, new RegExp(`Limit[^\\n]*rows=${AUDIT_SEARCH_WINDOW}\\b`), 'the target search reads a window of rows')
    t.notMatch(search, /Seq Scan/)
  })
})

/** Connection options of a pool, for a second client on the same database. */
function connectionOf (sql: Sql): { host: string, port: number, database: string, username: string, password: string } {
  const o = sql.options as unknown as { host: string[], port: number[], database: string, user: string, pass: string | null }
  return { host: o.host[0] as string, port: o.port[0] as number, database: o.database, username: o.user, password: o.pass ?? '' }
}

t.test('the overview: spend per period, people, caps', async (t) => {
  const { sql } = await freshDatabase(t, { migrate: true })
  const now = Date.now()
  const periods = ['daily', 'weekly', 'monthly'] as const
  const buckets = periods.map((p) => bucketKey(p, now))
  const empty = await handleConsole(sql, { path: '/overview', query: '' })
  t.match('json' in empty ? empty.json : null, { periods: periods.map((period, i) => ({ period, bucket: buckets[i], micro_cents: '0', spend: centsText(0), people: 0, organization_cap: null })), caps: 0, people_seen: 0 }, 'an empty ledger')
  // 300 developers; amounts up to 9e13 micro-cents so the sums pass 2^53; some zero rows; old buckets.
  await sql`insert into principals (principal) select 'p' || i from generate_series(1, 320) i`
  await sql`insert into spend (principal, period, micro_cents, cents)
    select 'p' || i, b, case when i % 10 = 0 then 0 else (i::bigint * 300000000007 + length(b)) end, 0
    from generate_series(1, 300) i cross join unnest(${sql.array([...buckets, '2001-01-01', '2001-W01', '2001-01'])}::text[]) b`
  await sql`insert into spend_limits (id, scope_type, scope_id, amount, period) values ('o-w', 'organization', '', 5000, 'weekly'), ('o-m', 'organization', '', 90000, 'monthly'), ('u-1', 'user', 'p1', 100, 'daily')`
  const r = await handleConsole(sql, { path: '/overview', query: '' })
  const got = ('json' in r ? r.json : null) as { periods: Array<{ period: string, bucket: string, micro_cents: string, spend: string, people: number, organization_cap: string | null }>, caps: number, people_seen: number }
  const ref = await sql<Array<{ period: string, micro: string, people: number }>>`
    select period, sum(micro_cents)::text as micro, (count(*) filter (where micro_cents > 0))::int as people from spend group by period`
  for (const [i, period] of periods.entries()) {
    const want = ref.find((x) => x.period === buckets[i])
    t.equal(got.periods[i]?.period, period)
    t.equal(got.periods[i]?.bucket, buckets[i])
    t.equal(got.periods[i]?.micro_cents, want?.micro, `${period}: the exact sum`)
    t.ok(BigInt(want?.micro ?? 0) > 2n ** 53n, `${period}: a sum past 2^53 stays exact`)
    t.equal(got.periods[i]?.people, 270, `${period}: developers who spent`)
  }
  t.same(got.periods.map((p) => p.organization_cap), [null, '5000', '90000'], 'organization caps per period')
  t.equal(got.caps, 3)
  t.equal(got.people_seen, 320)
})
