/**
 * Pool state in the console (issue 19): a real gateway with two pools — `fleet` (three fake
 * Anthropic upstreams, weights 2/1/1, each reporting its own cache reads) and `spare` (two that
 * never serve, behind it in the failover order) — driven by Claude Code sessions
 * (`x-claude-code-session-id`), then read as a signed-in administrator:
 * - `/console/api/upstreams` carries `pools_report`: every configured pool, each member's
 *   configured share, requests equal to the replies its fake gave, actual shares summing to 1,
 *   the cache-hit ratio its fake's usage implies, and, after one member answers 429, one cooldown
 *   and one worker keeping it out; a pool that served nothing has null ratios, not NaN. The fields
 *   the page had before (`upstreams`, `configured`, `pools`) are still there.
 * - in chromium (skipped, saying why, where /usr/bin/chromium is absent), the Upstreams page shows
 *   one table per pool with those numbers, stays within a narrow window, and is screenshotted in
 *   light and dark into a scratch folder (WEIR_POOLS_SHOTS to keep them).
 * - after a live reload that changes weights and renames a pool, the report follows the pools now
 *   in force, the counts kept so far stay, and the member the rebuilt pools no longer keep out
 *   counts as recovered (no worker keeps it out).
 * Every wait is a bounded poll (workers flush their metrics every 2 s).
 */
import t from 'tap'
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { stringify } from 'yaml'
import { startDevIdp } from '../../lib/dev/idp.js'
import { keyRing, mintToken } from '../../lib/session/token.js'
import { type FakeUpstream, simpleStream, startFakeUpstream } from '../helpers/fake-upstream.js'
import { startTestGateway, TEST_SECRET } from '../helpers/gateway.js'
import { req } from '../helpers/http.js'
import { eventually } from '../integration/spend-helpers.js'
import { ADMIN, consoleApi, consoleSignIn } from './helpers.js'

/** The page's globals, as the functions run inside the browser see them (no DOM lib in this project). */
declare const document: any // eslint-disable-line @typescript-eslint/no-explicit-any

const CHROMIUM = '/usr/bin/chromium'
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking']
const SHOTS = process.env.WEIR_POOLS_SHOTS ?? mkdtempSync(join(tmpdir(), 'weir-pools-shots-'))

const FLEET = ['a', 'b', 'c'] as const
const WEIGHTS = { a: 2, b: 1, c: 1 } as const
const SPARE = ['d', 'e'] as const
/** Per member: input, cache read, cache write of each reply. */
const USAGE = { a: [10, 90, 0], b: [20, 30, 50], c: [50, 50, 0] } as const
const SESSIONS = Array.from({ length: 30 }, (_, i) => `c0a5${i.toString(16).padStart(4, '0')}-7c1d-4b6e-9a7f-0123456789ab`)
const bearer = mintToken(keyRing([TEST_SECRET]), { sub: 'u-dev', email: 'dev@example.com', groups: ['eng'] }, { ttlHours: 1 }).token

type Member = Record<string, number | string | null>
const near = (x: number | null | undefined, y: number): boolean => typeof x === 'number' && Math.abs(x - y) < 1e-9

t.test('pool state in the console: API figures against what the fakes served, and the Upstreams page', async (t) => {
  const idp = await startDevIdp({
    users: [ADMIN],
    clients: [{ client_id: 'weir-test', client_secret: 'weir-test-secret', redirect_uris: ['http://127.0.0.1/oauth/callback', 'http://127.0.0.1/console/callback'] }],
  })
  t.teardown(() => idp.close())
  /** Replies (not errors) each fake gave. */
  const replies = new Map<string, number>()
  const names = [...FLEET, ...SPARE]
  const fakes = await Promise.all(names.map(async (n) => await startFakeUpstream(() => {
    replies.set(n, (replies.get(n) ?? 0) + 1)
    const [input, read, write] = n in USAGE ? USAGE[n as keyof typeof USAGE] : [1, 0, 0]
    return { kind: 'sse', frames: simpleStream('ok', { input_tokens: input, output_tokens: 3, cache_read_input_tokens: read, cache_creation_input_tokens: write }) }
  })))
  for (const f of fakes) t.teardown(() => f.close())
  // The config object the file is written from, so a reload can change the pools.
  let cfg: Record<string, any> = {} // eslint-disable-line @typescript-eslint/no-explicit-any
  const file = join(mkdtempSync(join(tmpdir(), 'weir-pools-console-')), 'gateway.yaml')
  const { gw, url } = await startTestGateway(t, {
    idp,
    configFile: file,
    config: (c) => {
      cfg = c
      c.upstreams = names.map((n, i) => ({ provider: 'anthropic', name: n, base_url: (fakes[i] as FakeUpstream).url, auth: { api_key: `sk-${n}` } }))
      c.upstream_pools = [
        { name: 'fleet', members: FLEET.map((n) => ({ upstream: n, weight: WEIGHTS[n] })), cooldown_seconds: 600, max_cooldown_seconds: 600 },
        { name: 'spare', members: SPARE.map((n) => ({ upstream: n })) },
      ]
      c.admin = { write_keys: [{ id: 'terraform', key: 'w'.repeat(40) }], admin_groups: ['finops'] }
    },
  })
  const s = await consoleSignIn(url, idp, ADMIN.email)
  const upstreams = async (): Promise<Record<string, any>> => { // eslint-disable-line @typescript-eslint/no-explicit-any
    const r = await consoleApi(url, s, 'GET', '/upstreams')
    t.equal(r.status, 200)
    return r.json()
  }

  const before = await upstreams()
  t.same(before.pools_report.map((p: { name: string }) => p.name), ['fleet', 'spare'], 'every configured pool, in config order')
  const idle = before.pools_report[0].members as Member[]
  t.same(idle.map((m) => [m.upstream, m.weight, m.configured_share, m.requests, m.share, m.cache_hit_ratio, m.workers_out]),
    [['a', 2, 0.5, 0, null, null, 0], ['b', 1, 0.25, 0, null, null, 0], ['c', 1, 0.25, 0, null, null, 0]], 'before any request: configured shares, null ratios')

  const turn = async (session: string, marker: string): Promise<void> => {
    const body = JSON.stringify({ model: 'claude-sonnet-4-5-20250929', max_tokens: 16, stream: true, messages: [{ role: 'user', content: `${marker} ${session}` }] })
    const r = await req(`${url}/v1/messages`, { method: 'POST', headers: { authorization: `Bearer ${bearer}`, 'content-type': 'application/json', 'x-claude-code-session-id': session }, body })
    t.equal(r.status, 200, 'the client sees no error')
  }
  for (const session of SESSIONS) await turn(session, 'one')
  t.ok(FLEET.every((n) => (replies.get(n) ?? 0) > 0), `every fleet member served sessions (${FLEET.map((n) => replies.get(n) ?? 0).join('/')})`)
  // c answers 429 (no retry-after: the pool's 600 s cooldown): its first session fails over, c is
  // cooled on the only worker, and its other sessions go straight to their next choice.
  const c = fakes[2] as FakeUpstream
  c.script = () => ({ kind: 'json', status: 429, body: { type: 'error', error: { type: 'rate_limit_error', message: 'slow down' } } })
  const cAsked = c.requests.length
  for (const session of SESSIONS) await turn(session, 'two')
  t.equal(c.requests.length - cAsked, 1, 'c was asked once, then cooled')
  t.equal(replies.get('d') ?? 0, 0, 'the spare pool never served')

  const total = 2 * SESSIONS.length
  const now = await eventually(async () => {
    const u = await upstreams()
    const fleet = u.pools_report[0].members as Member[]
    const served = fleet.reduce((a, m) => a + (m.requests as number), 0)
    return served >= total && (fleet[2]?.cooldowns as number) >= 1 ? u : null
  }, 'the pool figures after the workers flushed') as Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any
  const fleet = new Map((now.pools_report[0].members as Member[]).map((m) => [m.upstream as string, m]))
  for (const n of FLEET) {
    const m = fleet.get(n) as Member
    t.equal(m.requests, replies.get(n) ?? 0, `${n}: requests = the replies its fake gave`)
    t.ok(near(m.share as number, (replies.get(n) ?? 0) / total), `${n}: share ${String(m.share)} = ${replies.get(n) ?? 0}/${total}`)
    t.equal(m.configured_share, WEIGHTS[n] / 4, `${n}: configured share from its weight`)
    const [input, read, write] = USAGE[n]
    const k = replies.get(n) ?? 0
    t.same([m.input_tokens, m.cache_read_tokens, m.cache_write_tokens], [input * k, read * k, write * k], `${n}: tokens as its fake reported them`)
    t.ok(near(m.cache_hit_ratio as number, read / (input + read + write)), `${n}: cache-hit ratio ${String(m.cache_hit_ratio)} = ${read}/${input + read + write}`)
  }
  t.ok(near([...fleet.values()].reduce((a, m) => a + (m.share as number), 0), 1), 'the fleet\'s shares sum to 1')
  t.match(fleet.get('c'), { cooldowns: 1, probe_failures: 0, recoveries: 0, workers_out: 1 }, 'c: one cooldown, kept out by the one worker')
  t.match(fleet.get('a'), { cooldowns: 0, workers_out: 0 })
  t.match(fleet.get('b'), { cooldowns: 0, workers_out: 0 })
  t.same((now.pools_report[1].members as Member[]).map((m) => [m.upstream, m.configured_share, m.requests, m.share, m.cache_hit_ratio]),
    [['d', 0.5, 0, null, null], ['e', 0.5, 0, null, null]], 'the spare pool: nothing served, null ratios')
  t.ok(!JSON.stringify(now.pools_report).includes('NaN'), 'no NaN anywhere')
  // The fields the page had before are unchanged.
  t.same(now.configured.map((x: { name: string }) => x.name), names)
  t.equal(now.upstreams.find((x: { upstream: string }) => x.upstream === 'c')?.rate_limited, 1, 'upstream figures: c\'s 429')
  t.equal(now.pools.find((x: { upstream: string }) => x.upstream === 'c')?.state, 'cooling', 'this worker\'s pool state')

  await t.test('the Upstreams page shows one table per pool with those numbers', { skip: existsSync(CHROMIUM) ? false : `${CHROMIUM} is not installed (Debian's chromium package; .ci/run installs it on the host)` }, async (t) => {
    const { chromium } = await import('playwright-core')
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS, headless: true })
    t.teardown(() => browser.close())
    idp.setUser(ADMIN.email)
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 860 }, locale: 'en-US' })
    const page = await ctx.newPage()
    await page.goto(`${url}/console/`)
    await page.getByRole('link', { name: 'Sign in' }).click()
    await page.getByRole('heading', { level: 1, name: 'Overview' }).waitFor()
    await page.getByRole('link', { name: 'Upstreams' }).click()
    const table = page.getByRole('table', { name: 'Pool fleet: members' })
    await table.waitFor()
    t.same(await table.locator('thead th').allTextContents(), ['Member', 'Weight', 'Configured share', 'Actual share', 'Requests', 'Cooldowns', 'Failed probes', 'Workers keeping it out', 'Cache-hit ratio'], 'column headers')
    t.equal(await table.locator('thead th[scope="col"]').count(), 9, 'scoped column headers')
    const pct = (v: number): string => v.toLocaleString('en-US', { style: 'percent', maximumFractionDigits: 1 })
    const rows = await table.locator('tbody tr').evaluateAll((trs) => trs.map((tr: any) => [...tr.children].map((c: any) => c.textContent))) // eslint-disable-line @typescript-eslint/no-explicit-any
    const expected = FLEET.map((n) => {
      const k = replies.get(n) ?? 0
      const [input, read, write] = USAGE[n]
      return [n, String(WEIGHTS[n]), pct(WEIGHTS[n] / 4), pct(k / total), k.toLocaleString('en-US'), n === 'c' ? '1' : '0', '0', n === 'c' ? '1' : '0', pct(read / (input + read + write))]
    })
    t.same(rows, expected, `the fleet table: ${JSON.stringify(rows)}`)
    t.equal(await table.locator('tbody th[scope="row"]').count(), 3, 'each member is a row header')
    const spare = page.getByRole('table', { name: 'Pool spare: members' })
    t.same(await spare.locator('tbody tr').evaluateAll((trs) => trs.map((tr: any) => [...tr.children].map((c: any) => c.textContent))), // eslint-disable-line @typescript-eslint/no-explicit-any
      [['d', '1', '50%', '—', '0', '0', '0', '0', '—'], ['e', '1', '50%', '—', '0', '0', '0', '0', '—']], 'the spare pool: dashes for the ratios it cannot have yet')
    t.equal(await page.getByRole('heading', { level: 3, name: 'Pools' }).count(), 1)
    for (const scheme of ['light', 'dark'] as const) {
      await page.emulateMedia({ colorScheme: scheme })
      // Text and background of a cell differ in both schemes (the page's colours, not the defaults).
      const colours = await table.locator('tbody td').first().evaluate((el: any) => { // eslint-disable-line @typescript-eslint/no-explicit-any
        const cs = (el.ownerDocument.defaultView).getComputedStyle(el)
        return { text: cs.color, body: (el.ownerDocument.defaultView).getComputedStyle(el.ownerDocument.body).backgroundColor }
      })
      t.not(colours.text, colours.body, `${scheme}: cell text stands out from the page (${colours.text} on ${colours.body})`)
      await page.screenshot({ path: join(SHOTS, `upstreams-pools-${scheme}.png`), fullPage: true })
    }
    const narrow = await browser.newContext({ viewport: { width: 420, height: 860 }, locale: 'en-US', storageState: await ctx.storageState() })
    const np = await narrow.newPage()
    await np.goto(`${url}/console/upstreams`)
    await np.getByRole('table', { name: 'Pool fleet: members' }).waitFor()
    const overflow = await np.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth)
    t.ok(overflow <= 1, `no sideways page scrolling in a narrow window (${overflow}px): the tables scroll inside their frames`)
    await np.screenshot({ path: join(SHOTS, 'upstreams-pools-narrow.png'), fullPage: true })
    await narrow.close()
    await ctx.close()
  })

  await t.test('after a live reload the report follows the pools now in force', async (t) => {
    cfg.upstream_pools[0].members[0].weight = 1
    cfg.upstream_pools[1].name = 'backup'
    writeFileSync(file, stringify(cfg))
    const out = await gw.reload('test')
    t.equal(out.ok, true, 'the reload applied')
    t.same(out.restart, [], 'pools need no restart')
    // The worker rebuilt its pools (their config changed), so c starts healthy there; the retired
    // pools object counted c as recovered, and no worker keeps it out any more.
    const u = await eventually(async () => {
      const v = await upstreams()
      return (v.pools_report[0].members as Member[])[2]?.recoveries === 1 ? v : null
    }, 'the retired pools object\'s recovery') as Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any
    t.same(u.pools_report.map((p: { name: string }) => p.name), ['fleet', 'backup'], 'the renamed pool')
    const after = new Map((u.pools_report[0].members as Member[]).map((m) => [m.upstream as string, m]))
    for (const n of FLEET) {
      t.ok(near(after.get(n)?.configured_share as number, 1 / 3), `${n}: configured share from the new weights`)
      t.ok((after.get(n)?.requests as number) >= (fleet.get(n)?.requests as number), `${n}: the counts so far stay`)
    }
    t.equal(u.pools.find((x: { upstream: string }) => x.upstream === 'c')?.state, 'healthy', 'the rebuilt pools start c healthy')
    t.match(after.get('c'), { cooldowns: 1, recoveries: 1, workers_out: 0 }, 'c: no worker keeps it out now')
  })
})
