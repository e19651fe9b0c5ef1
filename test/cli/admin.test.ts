/**
 * `weir admin` round trips: the built CLI (dist/bin/weir.js) run as a separate process against a
 * real gateway, Postgres and OIDC provider, with the key in WEIR_ADMIN_KEY and the URL in WEIR_URL
 * or --url. Caps by email and dollars (exact cents back), forced caps, removal by scope, a person's
 * caps and spend, signing a person out, the spend report, and every failure's message and exit code.
 */
import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import { createServer, type AddressInfo } from 'node:net'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { keyRing, mintToken } from '../../lib/session/token.js'
import { ROOT } from '../../lib/version.js'
import { READ_KEY, WRITE_KEY, admin, eventually, oneCentUpstream, post, spendGateway } from '../integration/spend-helpers.js'
import { TEST_SECRET } from '../helpers/gateway.js'
import { req } from '../helpers/http.js'

const CLI = join(ROOT, 'dist/bin/weir.js')

interface Run { code: number, stdout: string, stderr: string }

/** Run the CLI as its own process (asynchronously: the gateway under test lives in this one). */
async function weir (args: string[], env: Record<string, string | undefined>): Promise<Run> {
  const clean: NodeJS.ProcessEnv = { PATH: process.env.PATH }
  for (const [k, v] of Object.entries(env)) if (v !== undefined) clean[k] = v
  return await new Promise((resolve) => {
    execFile(process.execPath, [CLI, 'admin', ...args], { env: clean, timeout: 60_000 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1
      resolve({ code, stdout, stderr })
    })
  })
}

/** A local port nothing listens on (bound, then released). */
async function closedPort (): Promise<number> {
  const srv = createServer()
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve))
  const port = (srv.address() as AddressInfo).port
  await new Promise((resolve) => srv.close(resolve))
  return port
}

const tokenFor = (sub: string, email: string, groups: string[]): string =>
  mintToken(keyRing([TEST_SECRET]), { sub, email, name: sub, groups }, { ttlHours: 1 }).token

// About 25 CLI processes (each a fresh Node start) against one gateway: on a loaded 2-core machine
// the file needs more than the default 180 s. Only a hang guard; nothing here asserts time.
t.setTimeout(420_000)

t.test('weir admin against a running gateway', { skip: existsSync(CLI) ? false : 'dist/bin/weir.js not built yet' }, async (t) => {
  const fake = await oneCentUpstream(t)
  const { url } = await spendGateway(t, fake)
  const env = { WEIR_URL: url, WEIR_ADMIN_KEY: WRITE_KEY }
  const ok = async (t: Test, args: string[], e: Record<string, string | undefined> = env): Promise<string> => {
    const r = await weir(args, e)
    t.equal(r.code, 0, `weir admin ${args.join(' ')}: ${r.stderr}`)
    return r.stdout
  }

  const alice = tokenFor('u-alice', 'alice@example.com', ['eng'])
  t.equal((await post(url, alice)).status, 200)
  t.equal((await post(url, tokenFor('u-old', 'shared@example.com', ['eng']))).status, 200)
  t.equal((await post(url, tokenFor('u-new', 'shared@example.com', ['ops']))).status, 200)
  await eventually(async () => (await req(`${url}/v1/organizations/principals?email=shared@example.com`, { headers: { 'x-api-key': READ_KEY } })).json().data.length === 2, 'principals recorded')

  await t.test('caps set by email and dollars: exact cents back, in the table and in --json', async (t) => {
    const set = await ok(t, ['caps', 'set', '--email', 'alice@example.com', '--amount', '12.10', '--period', 'daily'])
    t.match(set, /^spl_[0-9a-f]{32} {2}user:u-alice {2}daily {2}1210 cents \(\$12\.10\)\n$/)
    const list = JSON.parse(await ok(t, ['caps', 'list', '--json', '--scope', 'user']))
    t.match(list.data, [{ scope: { type: 'user', user_id: 'u-alice' }, amount: '1210', period: 'daily' }])
    t.equal(list.data.length, 1)
    // The classic float traps, each through the whole stack.
    for (const [typed, cents] of [['$0.29', '29'], ['1.15', '115'], ['4.35usd', '435'], ['19.99', '1999'], ['100000c', '100000'], ['$1099.99', '109999']]) {
      const r = JSON.parse(await ok(t, ['caps', 'set', '--email', 'alice@example.com', '--amount', typed as string, '--period', 'weekly', '--json']))
      t.equal(r.amount, cents, `${typed as string} → ${cents as string} cents`)
    }
    const table = await ok(t, ['caps', 'list', '--url', url], { WEIR_ADMIN_KEY: READ_KEY })
    t.match(table, /^ID +SCOPE +PERIOD +AMOUNT_CENTS +AMOUNT\n/)
    t.match(table, /user:u-alice +daily +1210 +\$12\.10\n/)
    t.match(table, /user:u-alice +weekly +109999 +\$1099\.99\n/)
    const org = await ok(t, ['caps', 'set', '--org', '--amount', 'unlimited'])
    t.match(org, /organization {2}monthly {2}unlimited\n$/)
  })

  await t.test('amounts that could be read two ways are refused before anything is sent', async (t) => {
    const bare = await weir(['caps', 'set', '--email', 'alice@example.com', '--amount', '12'], env)
    t.equal(bare.code, 64)
    t.match(bare.stderr, /amount '12' has no unit: write \$12 or 12\.00 for dollars, or 12c for cents/)
    const sub = await weir(['caps', 'set', '--email', 'alice@example.com', '--amount', '12.105'], env)
    t.equal(sub.code, 64)
    t.match(sub.stderr, /3 decimals/)
    const none = await weir(['caps', 'set', '--email', 'alice@example.com'], env)
    t.equal(none.code, 64)
    t.match(none.stderr, /--amount is required/)
    t.equal((await weir(['caps', 'set', '--email', 'a@b', '--user', 'x', '--amount', '1c'], env)).code, 64, 'two scopes')
    t.match((await weir(['caps', 'set', '--org', '--amount', '1c', '--period', 'yearly'], env)).stderr, /--period must be daily, weekly or monthly/)
  })

  await t.test('a subject nobody was seen with needs --force; an ambiguous email is refused', async (t) => {
    const r = await weir(['caps', 'set', '--user', 'u-later', '--amount', '5c'], env)
    t.equal(r.code, 1)
    t.match(r.stderr, /^weir admin: scope\.user_id: no principal Weir has seen has the subject 'u-later'\. To set a cap for someone who has not signed in yet, add "force": true\n$/)
    t.match(await ok(t, ['caps', 'set', '--user', 'u-later', '--amount', '5c', '--force']), /user:u-later {2}monthly {2}5 cents \(\$0\.05\)/)
    const emailAsSub = await weir(['caps', 'set', '--user', 'alice@example.com', '--amount', '5c'], env)
    t.match(emailAsSub.stderr, /it is the email of 'u-alice'/)
    const amb = await weir(['caps', 'set', '--email', 'shared@example.com', '--amount', '$5'], env)
    t.equal(amb.code, 1)
    t.match(amb.stderr, /'shared@example\.com' matches 2 subjects \('u-new', 'u-old'\)/)
  })

  await t.test('caps show --email: each period\'s cap, where it comes from, and the spend so far', async (t) => {
    const out = await ok(t, ['caps', 'show', '--email', 'alice@example.com'])
    t.match(out, /^USER +EMAIL +PERIOD +CAP_CENTS +CAP +FROM +SPENT_CENTS +SPENT\n/)
    t.match(out, /u-alice +alice@example\.com +daily +1210 +\$12\.10 +user:u-alice +1 +\$0\.01\n/)
    t.match(out, /u-alice +alice@example\.com +monthly +unlimited +unlimited +organization +1 +\$0\.01\n/)
    const both = JSON.parse(await ok(t, ['caps', 'show', '--email', 'shared@example.com', '--json']))
    t.same([...new Set(both.data.map((x: { scope: { user_id: string } }) => x.scope.user_id))], ['u-new', 'u-old'])
    const ghost = await weir(['caps', 'show', '--email', 'ghost@example.com'], env)
    t.equal(ghost.code, 1)
    t.match(ghost.stderr, /no principal the gateway has seen has the email 'ghost@example\.com'/)
  })

  await t.test('caps rm by id and by scope', async (t) => {
    const before = (await admin(url, 'GET', '?scope_type=user')).json().data as Array<{ id: string, period: string, scope: { user_id: string } }>
    t.match(await ok(t, ['caps', 'rm', '--email', 'alice@example.com', '--period', 'daily']), /^removed spl_/)
    const later = before.find((c) => c.scope.user_id === 'u-later')?.id as string
    t.equal(await ok(t, ['caps', 'rm', later]), `removed ${later}\n`)
    const after = (await admin(url, 'GET', '?scope_type=user')).json().data as Array<{ period: string, scope: { user_id: string } }>
    t.same(after.map((c) => `${c.scope.user_id}/${c.period}`), ['u-alice/weekly'])
    const again = await weir(['caps', 'rm', '--email', 'alice@example.com', '--period', 'daily'], env)
    t.equal(again.code, 1)
    t.match(again.stderr, /no daily cap for user:u-alice/)
    t.match((await weir(['caps', 'rm', '--email', 'alice@example.com'], env)).stderr, /--period is required/)
    const missing = await weir(['caps', 'rm', 'spl_00000000000000000000000000000000'], env)
    t.equal(missing.code, 1)
    t.match(missing.stderr, /spend limit not found/)
  })

  await t.test('spend --by user|group|model, as a table and as JSON', async (t) => {
    await eventually(async () => JSON.parse((await weir(['spend', '--by', 'model', '--json'], env)).stdout).total?.spend === '3', 'spend recorded')
    const users = await ok(t, ['spend', '--by', 'user', '--period', 'daily'])
    t.match(users, /^daily \d{4}-\d{2}-\d{2}\nUSER +EMAIL +SPENT_CENTS +SPENT\n/)
    t.match(users, /u-alice +alice@example\.com +1 +\$0\.01\n/)
    t.match(users, /total \(all users\): 3 cents \(\$0\.03\)\n$/)
    const groups = JSON.parse(await ok(t, ['spend', '--by', 'group', '--json']))
    t.same(groups.data.map((x: { key: string, spend: string }) => [x.key, x.spend]), [['eng', '2'], ['ops', '1']])
    t.match(await ok(t, ['spend', '--by', 'model', '--period', 'weekly']), /claude-haiku-4-5 +3 +\$0\.03\n/)
    const bad = await weir(['spend', '--by', 'team'], env)
    t.equal(bad.code, 64)
    t.match(bad.stderr, /--by must be user, group or model/)
    const bucket = await weir(['spend', '--by', 'user', '--period', 'weekly', '--bucket', '2026-12'], env)
    t.equal(bucket.code, 1)
    t.match(bucket.stderr, /bucket: a weekly bucket is spelled YYYY-Www/)
  })

  await t.test('sessions rm --email signs the person out everywhere', async (t) => {
    t.equal((await post(url, alice)).status, 200)
    const out = await ok(t, ['sessions', 'rm', '--email', 'alice@example.com'])
    t.match(out, /^signed out u-alice: session tokens issued before \S+Z are refused, 0 sign-in\(s\) can no longer refresh\n$/)
    t.equal((await post(url, alice)).status, 401, 'the token is refused')
    const ro = await weir(['sessions', 'rm', '--email', 'alice@example.com'], { ...env, WEIR_ADMIN_KEY: READ_KEY })
    t.equal(ro.code, 77)
    t.match(ro.stderr, /requires write:spend_limits \(WEIR_ADMIN_KEY is a read key; this needs a write key\)/)
  })

  await t.test('configuration and connection failures: clear messages, distinct exit codes', async (t) => {
    const noKey = await weir(['caps', 'list'], { WEIR_URL: url })
    t.equal(noKey.code, 77)
    t.match(noKey.stderr, /WEIR_ADMIN_KEY is not set/)
    const badKey = await weir(['caps', 'list'], { ...env, WEIR_ADMIN_KEY: 'nope' })
    t.equal(badKey.code, 77)
    t.match(badKey.stderr, /the gateway refused WEIR_ADMIN_KEY: missing or invalid admin credentials/)
    const noUrl = await weir(['caps', 'list'], { WEIR_ADMIN_KEY: WRITE_KEY })
    t.equal(noUrl.code, 64)
    t.match(noUrl.stderr, /no gateway URL: pass --url/)
    const port = await closedPort()
    const down = await weir(['caps', 'list', '--url', `http://127.0.0.1:${port}`], env)
    t.equal(down.code, 69)
    t.match(down.stderr, `cannot reach the gateway at http://127.0.0.1:${port}: ECONNREFUSED`)
    const unknown = await weir(['caps', 'frob'], env)
    t.equal(unknown.code, 64)
    t.match(unknown.stderr, /unknown admin command 'caps frob'/)
    const help = await weir(['--help'], {})
    t.equal(help.code, 0)
    t.match(help.stdout, /WEIR_ADMIN_KEY/)
  })
})
