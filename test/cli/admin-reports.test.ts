/**
 * `weir admin usage | cost | claude-code`: the built CLI (dist/bin/weir.js) as its own process
 * against a real gateway and Postgres. Requests through the gateway show up in the default range;
 * a generated ledger checks the tables (groups, totals, exact cents and dollars), that every page
 * is followed (336 hour buckets over two pages), that --json is the API's own shape, the daily
 * Claude Code table over several days, and the usage errors and the gateway's 400s with their exit
 * codes.
 */
import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import postgres from 'postgres'
import t, { type Test } from 'tap'
import { writeUsage } from '../../lib/reports/ledger.js'
import { ROOT } from '../../lib/version.js'
import { READ_KEY, bearer, eventually, oneCentUpstream, post, spendGateway } from '../integration/spend-helpers.js'
import { req } from '../helpers/http.js'

const CLI = join(ROOT, 'dist/bin/weir.js')

interface Run { code: number, stdout: string, stderr: string }

async function weir (args: string[], env: Record<string, string>): Promise<Run> {
  return await new Promise((resolve) => {
    execFile(process.execPath, [CLI, 'admin', ...args], { env: { PATH: process.env.PATH, ...env }, timeout: 60_000 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1
      resolve({ code, stdout, stderr })
    })
  })
}

t.setTimeout(300_000)

t.test('weir admin usage, cost and claude-code against a running gateway', { skip: existsSync(CLI) ? false : 'dist/bin/weir.js not built yet' }, async (t) => {
  const fake = await oneCentUpstream(t)
  const { url, dbUrl } = await spendGateway(t, fake)
  const sql = postgres(dbUrl, { max: 2, onnotice: () => {} })
  t.teardown(async () => { await sql.end() })
  const env = { WEIR_URL: url, WEIR_ADMIN_KEY: READ_KEY }
  const ok = async (t: Test, args: string[]): Promise<string> => {
    const r = await weir(args, env)
    t.equal(r.code, 0, `weir admin ${args.join(' ')}: ${r.stderr}`)
    return r.stdout
  }

  await t.test('requests through the gateway appear in the default range', async (t) => {
    const dev = bearer('u-dev', ['eng'])
    for (let i = 0; i < 2; i++) t.equal((await post(url, dev)).status, 200)
    await eventually(async () => Number((await sql`select coalesce(sum(requests), 0)::int as n from usage_minutes where principal = 'u-dev'`)[0]?.n) === 2, 'two metered requests')
    const usage = await ok(t, ['usage', '--group-by', 'model,account_id'])
    t.match(usage, /^BUCKET +MODEL +ACCOUNT_ID +INPUT +OUTPUT +CACHE_READ +CACHE_WRITE +WEB_SEARCHES\n/)
    t.match(usage, new RegExp(`\\n${new Date().toISOString().slice(0, 10)} +claude-haiku-4-5 +u-dev +20000 +0 +0 +0 +0\\n`))
    t.match(usage, /\ntotal +20000 +0 +0 +0 +0\n$/)
    t.equal(usage.trim().split('\n').length, 3, 'the header, one row (empty days print nothing), the total')
    const cost = await ok(t, ['cost', '--bucket', '1h'])
    t.match(cost, /\ntotal +2 +\$0\.02\n$/, 'two one-cent requests')
  })

  // A generated ledger: ann and ben over March 2025, and a fast-mode row.
  const row = (at: string, principal: string, model: string, upstream: string, fast: boolean, input: number, output: number, costs: number[]): Parameters<typeof writeUsage>[1][number] =>
    ({ minute: Date.parse(at), principal, model, upstream, long: false, fast, v: [1, input, output, 0, 0, 0, 0, ...costs] })
  await writeUsage(sql as never, [
    row('2025-03-01T10:00:00Z', 'ann', 'claude-sonnet-4-5', 'anthropic', false, 100, 10, [30_000, 15_000, 0, 0, 0, 0]),
    row('2025-03-01T23:59:00Z', 'ben', 'claude-haiku-4-5', 'bedrock', false, 1000, 20, [100_000, 10_000, 0, 0, 0, 2_000_000]),
    row('2025-03-02T00:00:00Z', 'ann', 'claude-haiku-4-5', 'bedrock', false, 7, 1, [1, 1_234_567, 0, 0, 0, 0]),
    row('2025-03-14T23:00:00Z', 'ann', 'claude-opus-4-6', 'anthropic', true, 50, 5, [600_000, 0, 0, 0, 0, 0]),
  ])
  await sql`insert into principal_emails (principal, email, groups) values ('ann', 'ann@example.com', '["eng","ml"]'::jsonb), ('ben', 'ben@example.com', '["eng"]'::jsonb)
    on conflict (principal) do update set email = excluded.email, groups = excluded.groups`

  await t.test('usage: groups as columns, a total, filters', async (t) => {
    const out = await ok(t, ['usage', '--from', '2025-03-01', '--to', '2025-03-04', '--group-by', 'user,model'])
    t.same(out.split('\n').map((l) => l.split(/ {2,}/)), [
      ['BUCKET', 'USER_EMAIL', 'MODEL', 'INPUT', 'OUTPUT', 'CACHE_READ', 'CACHE_WRITE', 'WEB_SEARCHES'],
      ['2025-03-01', 'ann@example.com', 'claude-sonnet-4-5', '100', '10', '0', '0', '0'],
      ['2025-03-01', 'ben@example.com', 'claude-haiku-4-5', '1000', '20', '0', '0', '0'],
      ['2025-03-02', 'ann@example.com', 'claude-haiku-4-5', '7', '1', '0', '0', '0'],
      ['total', '1107', '31', '0', '0', '0'],
      [''],
    ])
    const fast = await ok(t, ['usage', '--from', '2025-03-01', '--to', '2025-03-31', '--speed', 'fast', '--group-by', 'speed,upstream'])
    t.match(fast, /\n2025-03-14 +fast +anthropic +50 +5 +0 +0 +0\n/)
    t.match(fast, /\ntotal +50 +5/)
    const g = await ok(t, ['usage', '--from', '2025-03-01', '--to', '2025-03-02', '--group', 'ml', '--group-by', 'group'])
    t.match(g, /\n2025-03-01 +ml +100 +10 /)
    t.notMatch(g, /ben|1000/)
  })

  await t.test('usage --json follows every page and keeps the API shape', async (t) => {
    const all = JSON.parse(await ok(t, ['usage', '--from', '2025-03-01', '--to', '2025-03-15', '--bucket', '1h', '--json']))
    t.equal(all.data.length, 336, 'two weeks of hours: two pages of at most 168')
    t.same([all.data[0].starting_at, all.data[335].ending_at, all.has_more, all.next_page], ['2025-03-01T00:00:00Z', '2025-03-15T00:00:00Z', false, null])
    const direct = (await req(`${url}/v1/organizations/usage_report/messages?starting_at=2025-03-14T23:00:00Z&ending_at=2025-03-15T00:00:00Z&bucket_width=1h`, { headers: { 'x-api-key': READ_KEY } })).json()
    t.same(all.data[335], direct.data[0], 'the same bucket as the API answers it')
    t.equal(all.data.filter((b: { results: unknown[] }) => b.results.length > 0).length, 4)
  })

  await t.test('cost: exact cents and dollars, by description, totals summed exactly', async (t) => {
    const out = await ok(t, ['cost', '--from', '2025-03-01', '--to', '2025-03-03', '--group-by', 'description'])
    t.same(out.split('\n').map((l) => l.split(/ {2,}/)), [
      ['BUCKET', 'DESCRIPTION', 'CENTS', 'USD'],
      ['2025-03-01', 'claude-haiku-4-5 Usage - Input Tokens', '0.1', '$0.001'],
      ['2025-03-01', 'claude-haiku-4-5 Usage - Output Tokens', '0.01', '$0.0001'],
      ['2025-03-01', 'claude-haiku-4-5 - Web Search', '2', '$0.02'],
      ['2025-03-01', 'claude-sonnet-4-5 Usage - Input Tokens', '0.03', '$0.0003'],
      ['2025-03-01', 'claude-sonnet-4-5 Usage - Output Tokens', '0.015', '$0.00015'],
      ['2025-03-02', 'claude-haiku-4-5 Usage - Input Tokens', '0.000001', '$0.00000001'],
      ['2025-03-02', 'claude-haiku-4-5 Usage - Output Tokens', '1.234567', '$0.01234567'],
      ['total', '3.389568', '$0.03389568'],
      [''],
    ])
    const json = JSON.parse(await ok(t, ['cost', '--from', '2025-03-01', '--to', '2025-03-03', '--group-by', 'user', '--json']))
    t.same(json.data.map((b: { results: Array<{ user_email: string, amount: string }> }) => b.results.map((x) => [x.user_email, x.amount])),
      [[['ann@example.com', '0.045'], ['ben@example.com', '2.11']], [['ann@example.com', '1.234568']]])
  })

  await t.test('claude-code: one row per developer and day over a range', async (t) => {
    await sql`insert into claude_code_daily (day, principal, metric, k1, k2, value) values
      ('2025-03-10', 'ann', 'session.count', '', '', 2), ('2025-03-10', 'ann', 'lines_of_code.count', 'added', '', 342),
      ('2025-03-10', 'ann', 'lines_of_code.count', 'removed', '', 128), ('2025-03-10', 'ann', 'commit.count', '', '', 4),
      ('2025-03-10', 'ann', 'code_edit_tool.decision', 'Edit', 'accept', 25), ('2025-03-10', 'ann', 'code_edit_tool.decision', 'Write', 'reject', 3),
      ('2025-03-10', 'ann', 'token.usage', 'input', 'claude-sonnet-4-5', 1000), ('2025-03-10', 'ann', 'token.usage', 'output', 'claude-sonnet-4-5', 500),
      ('2025-03-10', 'ann', 'cost.usage', '', 'claude-sonnet-4-5', 1.86),
      ('2025-03-11', 'ben', 'session.count', '', '', 1), ('2025-03-11', 'ben', 'pull_request.count', '', '', 1)`
    const out = await ok(t, ['claude-code', '--from', '2025-03-10', '--to', '2025-03-12'])
    t.same(out.split('\n').map((l) => l.split(/ {2,}/)), [
      ['DAY', 'USER', 'SESSIONS', 'ADDED', 'REMOVED', 'COMMITS', 'PRS', 'EDITS_OK', 'EDITS_REJECTED', 'TOKENS', 'EST_COST'],
      ['2025-03-10', 'ann@example.com', '2', '342', '128', '4', '0', '25', '3', '1500', '$1.86'],
      ['2025-03-11', 'ben@example.com', '1', '0', '0', '0', '1', '0', '0', '0', '$0.00'],
      [''],
    ])
    const json = JSON.parse(await ok(t, ['claude-code', '--from', '2025-03-10', '--json']))
    t.equal(json.data.length, 1)
    t.match(json.data[0], { date: '2025-03-10T00:00:00Z', actor: { type: 'user_actor', email_address: 'ann@example.com' }, core_metrics: { num_sessions: 2 } })
  })

  await t.test('mistakes: usage errors exit 64 before anything is sent; the gateway\'s 400 exits 1 with its message', async (t) => {
    const cases: Array<[string[], number, RegExp]> = [
      [['usage', '--bucket', '2d'], 64, /--bucket must be 1d, 1h or 1m, not '2d'/],
      [['usage', '--from', 'last week'], 64, /--from must be a day \(2026-03-01\) or an RFC 3339 timestamp/],
      [['claude-code', '--from', '2025-03-10T00:00:00Z'], 64, /--from must be a UTC day/],
      [['claude-code', '--from', '2025-01-01', '--to', '2025-03-01'], 64, /at most 31 days/],
      [['usage', 'extra'], 64, /unexpected argument 'extra'/],
      [['usage', '--from', '2025-03-01', '--group-by', 'colour'], 1, /group_by\[\]: 'colour' is not one of model, context_window, account_id, speed/],
      [['cost', '--from', '2025-03-01', '--speed', 'quick'], 1, /speeds\[\]: 'quick' is not one of standard, fast/],
    ]
    for (const [args, code, message] of cases) {
      const r = await weir(args, env)
      t.equal(r.code, code, args.join(' '))
      t.match(r.stderr, message)
    }
    t.equal((await weir(['usage'], { WEIR_URL: url, WEIR_ADMIN_KEY: 'x'.repeat(40) })).code, 77, 'a rejected key')
  })
})
