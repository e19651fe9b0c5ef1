/**
 * Issue 17's "done when", end to end: `weir dev` started as the real CLI process (embedded
 * Postgres, its built-in IdP, the built-in mock model), the real Claude Code CLI sending requests
 * through it with its OpenTelemetry metrics exported to the gateway, then Debian's chromium
 * (playwright-core) signing the dev user in to the console through the built-in IdP: the spend on
 * Overview and People, the Claude Code analytics page, a cap made in the console that refuses the
 * CLI and, deleted, lets it through again, and a sign-out from People after which the CLI's bearer
 * fails. Skipped, saying why, where /usr/bin/chromium or the Claude Code binary is missing (the
 * Debian 13 test root has no chromium; .ci/run installs it on the host). Everything is asserted on
 * data, polled with a bound, never on timing.
 */
import t from 'tap'
import { spawn } from 'node:child_process'
import { chmodSync, existsSync, mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { ROOT } from '../../lib/version.js'
import { claudeAvailable, runClaude } from '../helpers/claude-cli.js'
import { eventually } from '../integration/spend-helpers.js'

/** The page's globals, as the functions run inside the browser see them (no DOM lib in this project). */
declare const document: any // eslint-disable-line @typescript-eslint/no-explicit-any

const CHROMIUM = '/usr/bin/chromium'
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking']
const WEIR = resolve(ROOT, 'dist', 'bin', 'weir.js')
const EMAIL = 'casey@example.com'
const SUB = 'dev-casey' // what `weir dev` makes of --user's local part
const skip = !existsSync(CHROMIUM)
  ? `${CHROMIUM} is not installed (Debian's chromium package; .ci/run installs it on the host)`
  : !claudeAvailable() ? 'the Claude Code binary is not installed (linux-x64 dev dependency)' : false

async function freePort (): Promise<number> {
  return await new Promise((resolve) => {
    const s = createServer()
    s.listen(0, '127.0.0.1', () => { const a = s.address() as { port: number }; s.close(() => resolve(a.port)) })
  })
}

t.test('the console of a running `weir dev`, over real Claude Code traffic', { skip }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'weir-dev-console-'))
  chmodSync(dir, 0o755) // as root, the embedded Postgres runs as 'postgres' and must reach it
  const port = await freePort()
  const env = { ...process.env }
  delete env.ANTHROPIC_API_KEY
  const child = spawn(process.execPath, [WEIR, 'dev', '--port', String(port), '--data-dir', dir, '--user', EMAIL, '--groups', 'eng,platform'], { env, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  child.stdout.setEncoding('utf8')
  child.stderr.setEncoding('utf8')
  child.stdout.on('data', (d: string) => { out += d })
  child.stderr.on('data', (d: string) => { out += d })
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve))
  t.teardown(async () => {
    if (child.exitCode === null) { child.kill('SIGINT'); await exited }
    rmSync(dir, { recursive: true, force: true })
  })
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`weir dev did not come up: ${out}`)), 90_000)
    child.stdout.on('data', () => { if (out.includes('Press Ctrl-C')) { clearTimeout(timer); resolve() } })
    void exited.then((c) => { clearTimeout(timer); reject(new Error(`exited ${c}: ${out}`)) })
  })
  const base = `http://127.0.0.1:${port}`
  t.match(out, `Operator console: ${base}/console  (sign in as ${EMAIL}, an administrator through groups eng, platform)`, 'the banner names the console')
  const line = new RegExp(`^CLAUDE_CODE_USE_GATEWAY=1 ANTHROPIC_BASE_URL=${base.replace(/\./g, '\\.')} ANTHROPIC_AUTH_TOKEN=(\\S+)$`, 'm').exec(out)
  t.ok(line, 'the paste-ready line for the Claude Code CLI')
  const bearer = line?.[1] as string

  // The real CLI, telemetry on and exported to the gateway, as a managed policy would set it.
  const telemetry = {
    CLAUDE_CODE_ENABLE_TELEMETRY: '1',
    OTEL_METRICS_EXPORTER: 'otlp',
    OTEL_LOGS_EXPORTER: 'none',
    OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
    OTEL_EXPORTER_OTLP_ENDPOINT: base,
    OTEL_EXPORTER_OTLP_HEADERS: `Authorization=Bearer ${bearer}`,
    OTEL_METRIC_EXPORT_INTERVAL: '1000',
  }
  const claude = async (prompt: string) => await runClaude(base, bearer, prompt, { env: telemetry })
  for (const n of [1, 2]) {
    const run = await claude(`ping ${n} from the console test`)
    t.equal(run.status, 0, run.stderr)
    t.match(run.stdout, `You said: ping ${n} from the console test`, 'the mock model answered the CLI through weir dev')
  }

  const { chromium } = await import('playwright-core')
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS, headless: true })
  t.teardown(() => browser.close())
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 860 } })
  const page = await ctx.newPage()
  page.on('dialog', (d) => { void d.accept() })
  const api = async (path: string): Promise<any> => await page.evaluate(async (p: string) => await (await fetch(`/console/api${p}`)).json(), path) // eslint-disable-line @typescript-eslint/no-explicit-any
  const today = new Date().toISOString().slice(0, 10)

  await t.test('the dev user signs in through the built-in IdP and sees the spend', async (t) => {
    await page.goto(`${base}/console/`)
    await page.getByRole('link', { name: 'Sign in' }).click()
    await page.getByRole('heading', { level: 1, name: 'Overview' }).waitFor()
    const session = await api('/session')
    t.match(session, { role: 'admin' }, 'an administrator through the dev user\'s groups')
    let shown = ''
    await eventually(async () => {
      await page.reload()
      await page.getByRole('heading', { level: 1, name: 'Overview' }).waitFor()
      shown = (await page.locator('.card').first().locator('.big').textContent()) ?? ''
      return /\$0\.0[1-9]|\$0\.[1-9]|\$[1-9]/.test(shown)
    }, 'today\'s spend on the overview', 30_000)
    t.pass(`the overview shows today's spend from the CLI's requests (${shown})`)
    await page.getByRole('cell', { name: EMAIL }).or(page.getByRole('rowheader', { name: EMAIL })).first().waitFor()
    t.pass('top people lists the dev user')
    await page.getByRole('link', { name: 'People' }).click()
    await page.getByRole('heading', { level: 1, name: 'People' }).waitFor()
    await page.getByRole('button', { name: `Sign ${EMAIL} out everywhere` }).waitFor()
    t.pass('People lists the dev user')
    const people = await api(`/people?q=${encodeURIComponent(EMAIL)}`)
    t.match(people.data?.[0], { user_id: SUB, email: EMAIL, groups: ['eng', 'platform'] })
  })

  await t.test('the analytics page shows the CLI\'s own metrics', async (t) => {
    // Claude Code exports its metrics on the interval and on exit; the aggregator writes each second.
    const row = (await eventually(async () => {
      const r = await api(`/claude_code?starting_at=${today}&limit=100`)
      return (r.data as Array<Record<string, any>> | undefined)?.find((x) => x.actor?.email_address === EMAIL) // eslint-disable-line @typescript-eslint/no-explicit-any
    }, 'the dev user\'s Claude Code analytics row', 30_000))!
    t.ok((row.core_metrics?.num_sessions ?? 0) >= 1, `sessions counted from the CLI's metrics (${row.core_metrics?.num_sessions})`)
    const tokens = (row.model_breakdown ?? []).reduce((a: number, m: any) => a + (m.tokens?.input ?? 0) + (m.tokens?.output ?? 0), 0) // eslint-disable-line @typescript-eslint/no-explicit-any
    t.ok(tokens > 0, `tokens per model from the CLI's token.usage metric (${tokens})`)
    await page.getByRole('link', { name: 'Claude Code' }).click()
    await page.getByRole('heading', { level: 1, name: /Claude Code/ }).waitFor()
    await page.getByRole('cell', { name: EMAIL }).or(page.getByRole('rowheader', { name: EMAIL })).first().waitFor()
    t.pass('the analytics table has the dev user\'s row')
  })

  await t.test('a cap made in the console refuses the CLI; deleting it lets the CLI through', async (t) => {
    await page.getByRole('link', { name: 'Caps' }).click()
    await page.getByRole('heading', { level: 1, name: 'Caps' }).waitFor()
    await page.getByLabel('Applies to').selectOption('user')
    await page.getByLabel('Email or subject').first().fill(SUB)
    await page.getByLabel('Period').selectOption('daily')
    await page.getByLabel('Amount (USD)').fill('0.01')
    await page.getByRole('button', { name: 'Save cap' }).click()
    await page.getByText('Cap saved.').waitFor()
    await page.getByRole('rowheader', { name: `User ${SUB}` }).waitFor()
    const blocked = (await eventually(async () => { const r = await claude('over the cap'); return r.status !== 0 ? r : undefined }, 'the CLI refused at the cap', 120_000))!
    t.match(blocked.stdout + blocked.stderr, /spend limit reached/, 'the CLI printed Weir\'s cap message')
    await page.getByRole('button', { name: `Delete User ${SUB} daily cap` }).click()
    await page.getByText('Cap deleted.').waitFor()
    const through = (await eventually(async () => { const r = await claude('under no cap'); return r.status === 0 ? r : undefined }, 'the CLI through again', 120_000))!
    t.match(through.stdout, 'You said: under no cap')
  })

  await t.test('signing the dev user out from People ends the CLI\'s bearer', async (t) => {
    await page.getByRole('link', { name: 'People' }).click()
    await page.getByRole('button', { name: `Sign ${EMAIL} out everywhere` }).click()
    await page.getByText(`Signed out ${EMAIL}`).waitFor()
    const r = await req401(base, bearer)
    t.equal(r, 401, 'the bearer is refused on the gateway')
    const run = await claude('after sign-out')
    t.not(run.status, 0, 'the CLI fails')
    t.notMatch(run.stdout, 'You said: after sign-out', 'and got no answer')
    t.equal((await api('/session')).type, 'error', 'the console session of the same person ended with it')
  })
  await ctx.close()
})

async function req401 (base: string, bearer: string): Promise<number> {
  const r = await fetch(`${base}/v1/messages`, { method: 'POST', headers: { authorization: `Bearer ${bearer}`, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'claude-sonnet-4-5', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] }) })
  await r.arrayBuffer()
  return r.status
}
