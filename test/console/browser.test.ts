/**
 * The console in a real browser: Debian's chromium driven by playwright-core (never a downloaded
 * browser). Skipped, saying why, where /usr/bin/chromium is absent (the Debian 13 test root has
 * none; .ci/run installs it on the host). Flows: sign in through the test IdP, see spend after real
 * requests through the gateway, create a cap and watch a request get refused, delete it and watch
 * requests pass again, sign a person out and watch their bearer fail, a non-administrator refused,
 * a read-only administrator offered no changes, the session cookie's attributes as the browser
 * stored them, the analytics page totalling the Claude Code metrics two developers sent (from one
 * server-summed request, the per-person table paged 50 at a time). Screenshots of every page in
 * light and dark go to docs/console/<page>-<scheme>.png.
 */
import t from 'tap'
import { existsSync, mkdirSync, mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { admin, bearer, eventually, post, WRITE_KEY } from '../integration/spend-helpers.js'
import { req } from '../helpers/http.js'
import { ccMetrics, DAY_POINTS } from '../reports/cc-otlp.js'
import { ADMIN, consoleGateway, DEV, READER } from './helpers.js'

/** The page's globals, as the functions run inside the browser see them (no DOM lib in this project). */
declare const document: any // eslint-disable-line @typescript-eslint/no-explicit-any

const CHROMIUM = '/usr/bin/chromium'
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking']
const PAGES = ['overview', 'caps', 'people', 'upstreams', 'audit', 'analytics'] as const
// Screenshots go to a scratch folder so a test run leaves the checkout clean; set
// WEIR_CONSOLE_SHOTS=docs/console to refresh the ones the README shows.
const SHOTS = process.env.WEIR_CONSOLE_SHOTS ?? mkdtempSync(join(tmpdir(), 'weir-console-shots-'))

t.test('the console in chromium', { skip: existsSync(CHROMIUM) ? false : `${CHROMIUM} is not installed (Debian's chromium package; .ci/run installs it on the host)` }, async (t) => {
  const { chromium } = await import('playwright-core')
  const { url, idp } = await consoleGateway(t)
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS, headless: true })
  t.teardown(() => browser.close())

  const dev = bearer('u-dev', ['eng'])
  for (let i = 0; i < 3; i++) t.equal((await post(url, dev)).status, 200, 'a developer request through the gateway')
  const other = bearer('u-sam', ['data'])
  t.equal((await post(url, other)).status, 200)

  const signedIn = async (email: string) => {
    idp.setUser(email)
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 860 } })
    const page = await ctx.newPage()
    page.on('dialog', (d) => { void d.accept() })
    await page.goto(`${url}/console/`)
    await page.getByRole('link', { name: 'Sign in' }).click()
    return { ctx, page }
  }

  await t.test('an administrator signs in and sees the spend', async (t) => {
    const { ctx, page } = await signedIn(ADMIN.email)
    await page.getByRole('heading', { level: 1, name: 'Overview' }).waitFor()
    const cookies = await ctx.cookies(url)
    const c = cookies.find((x) => x.name === 'weir_console')
    t.ok(c, 'the browser kept the session cookie')
    t.match(c, { httpOnly: true, secure: true, sameSite: 'Strict', path: '/' })
    t.equal(await page.evaluate(() => document.cookie), '', 'no script can read it')
    await eventually(async () => {
      await page.reload()
      await page.getByRole('heading', { level: 1, name: 'Overview' }).waitFor()
      const today = await page.locator('.card').first().locator('.big').textContent()
      return today !== null && /\$0\.0[1-9]|\$0\.[1-9]|\$[1-9]/.test(today)
    }, 'today\'s spend on the overview', 30_000)
    t.pass('the overview shows today\'s spend from real requests')
    await page.getByRole('cell', { name: 'u-dev@example.com' }).or(page.getByRole('rowheader', { name: 'u-dev@example.com' })).first().waitFor()
    t.pass('top people lists the developer')
    await ctx.close()
  })

  await t.test('a cap made in the console refuses a request; deleting it lets requests through', async (t) => {
    const { ctx, page } = await signedIn(ADMIN.email)
    await page.getByRole('link', { name: 'Caps' }).click()
    await page.getByRole('heading', { level: 1, name: 'Caps' }).waitFor()
    await page.getByLabel('Applies to').selectOption('user')
    await page.getByLabel('Email or subject').first().fill('u-dev')
    await page.getByLabel('Period').selectOption('daily')
    await page.getByLabel('Amount (USD)').fill('0.01')
    await page.getByRole('button', { name: 'Save cap' }).click()
    await page.getByText('Cap saved.').waitFor()
    await page.getByRole('rowheader', { name: 'User u-dev' }).waitFor()
    await eventually(async () => (await post(url, dev)).status === 429, 'the developer refused at the cap')
    t.pass('a request is refused at the cap set in the console')
    await page.getByRole('button', { name: 'Delete User u-dev daily cap' }).click()
    await page.getByText('Cap deleted.').waitFor()
    await eventually(async () => (await post(url, dev)).status === 200, 'the developer gets through again')
    t.pass('deleting the cap lets requests through')
    await page.getByRole('link', { name: 'Audit' }).click()
    await page.getByRole('cell', { name: 'spend_limit.delete' }).first().waitFor()
    t.pass('the audit page shows the deletion')
    await ctx.close()
  })

  await t.test('screenshots of every page, light and dark', async (t) => {
    mkdirSync(SHOTS, { recursive: true })
    // Claude Code metrics as the CLI sends them, so the analytics page has something to show.
    for (const who of [dev, other]) {
      const r = await req(`${url}/v1/metrics`, { method: 'POST', headers: { authorization: `Bearer ${who}`, 'content-type': 'application/json' }, body: ccMetrics(DAY_POINTS, { at: Date.now(), format: 'json' }) })
      t.equal(r.status, 200, 'Claude Code metrics accepted')
    }
    await eventually(async () => (await req(`${url}/v1/organizations/usage_report/claude_code?starting_at=${new Date().toISOString().slice(0, 10)}`, { headers: { 'x-api-key': WRITE_KEY } })).json().data?.length >= 1, 'the analytics rows')
    // Caps worth showing: the organization's monthly budget and a group's daily cap.
    t.equal((await admin(url, 'POST', '', { scope: { type: 'organization' }, amount: '2000', period: 'monthly' })).status, 200)
    t.equal((await admin(url, 'POST', '', { scope: { type: 'rbac_group', rbac_group_id: 'eng' }, amount: '500', period: 'daily' })).status, 200)
    const { ctx, page } = await signedIn(ADMIN.email)
    await page.getByRole('heading', { level: 1, name: 'Overview' }).waitFor()
    for (const scheme of ['light', 'dark'] as const) {
      await page.emulateMedia({ colorScheme: scheme })
      for (const p of PAGES) {
        await page.goto(`${url}/console/${p}`)
        await page.locator('main h1').waitFor()
        await page.waitForLoadState('networkidle')
        await page.waitForFunction(() => !document.body.textContent?.includes('Loading…'))
        t.equal(await page.locator('.error').count(), 0, `no error on ${p} (${scheme})`)
        await page.screenshot({ path: join(SHOTS, `${p}-${scheme}.png`), fullPage: true })
      }
    }
    t.ok(existsSync(join(SHOTS, 'overview-dark.png')))
    const narrow = await browser.newContext({ viewport: { width: 420, height: 860 }, storageState: await ctx.storageState() })
    const np = await narrow.newPage()
    await np.goto(`${url}/console/overview`)
    await np.locator('main h1').waitFor()
    await np.waitForLoadState('networkidle')
    const overflow = await np.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth)
    t.ok(overflow <= 1, `no sideways scrolling in a narrow window (${overflow}px)`)
    await np.screenshot({ path: join(SHOTS, 'overview-narrow.png'), fullPage: true })
    await narrow.close()
    await ctx.close()
  })

  await t.test('the analytics page totals the metrics the two developers sent, from bounded requests', async (t) => {
    const { ctx, page } = await signedIn(ADMIN.email)
    const asked: string[] = []
    page.on('request', (r) => { if (r.url().includes('/console/api/')) asked.push(r.url()) })
    await page.getByRole('heading', { level: 1, name: 'Overview' }).waitFor()
    const card = (title: string) => page.locator('.card', { has: page.getByRole('heading', { name: title, exact: true }) }).locator('.big')
    await eventually(async () => {
      await page.goto(`${url}/console/analytics`)
      await page.getByRole('heading', { level: 2, name: 'Claude Code analytics' }).waitFor()
      await card('Lines added').waitFor()
      return await card('Lines added').textContent() === '684'
    }, 'both developers\' metrics in the analytics totals', 30_000)
    // DAY_POINTS, sent once by each of two developers: 2 × 342 lines added, 2 × (1.86 + 0.0001) USD.
    t.equal(await card('Lines added').textContent(), '684', 'lines added: 2 × 342')
    t.equal(await card('People').textContent(), '2')
    t.equal(await card('Commits').textContent(), '6')
    t.equal(await card('Edits accepted').textContent(), '66', 'Edit 25 + Write 8, twice')
    t.equal(await card('Estimated cost').textContent(), '$3.72', 'estimated cost: 372.02 cents')
    await page.getByRole('rowheader', { name: 'u-dev@example.com' }).waitFor()
    t.pass('the per-person table lists the developer')
    const paths = asked.map((u) => new URL(u)).filter((u) => u.pathname === '/console/api/claude_code' || u.pathname === '/console/api/analytics')
    t.ok(paths.some((u) => u.pathname === '/console/api/analytics'), 'the totals came from /console/api/analytics')
    const pages = paths.filter((u) => u.pathname === '/console/api/claude_code')
    t.ok(pages.length > 0 && pages.every((u) => u.searchParams.get('limit') === '50'), `the per-person table asks for pages of 50 (${pages.map((u) => u.search).join(' ')})`)
    await ctx.close()
  })

  await t.test('keyboard: the skip link is the first stop and reaches the content', async (t) => {
    const { ctx, page } = await signedIn(ADMIN.email)
    await page.getByRole('heading', { level: 1, name: 'Overview' }).waitFor()
    await page.keyboard.press('Tab')
    t.equal(await page.evaluate(() => document.activeElement?.textContent), 'Skip to content')
    await ctx.close()
  })

  await t.test('signing a person out from the People page ends their bearer', async (t) => {
    const { ctx, page } = await signedIn(ADMIN.email)
    await page.getByRole('link', { name: 'People' }).click()
    await page.getByLabel('Search email or subject').fill('u-sam')
    await page.getByRole('button', { name: 'Search' }).click()
    await page.getByRole('button', { name: 'Sign u-sam@example.com out everywhere' }).click()
    await page.getByText(/Signed out u-sam@example\.com/).waitFor()
    t.equal((await post(url, other)).status, 401, 'their bearer is refused')
    await ctx.close()
  })

  await t.test('a non-administrator is refused', async (t) => {
    const { ctx, page } = await signedIn(DEV.email)
    await page.getByRole('heading', { name: 'Not an administrator' }).waitFor()
    t.equal((await ctx.cookies(url)).filter((c) => c.name === 'weir_console').length, 0, 'no session cookie')
    await ctx.close()
  })

  await t.test('a read-only administrator is offered no changes', async (t) => {
    const { ctx, page } = await signedIn(READER.email)
    await page.getByText('read-only', { exact: true }).first().waitFor()
    await page.getByRole('link', { name: 'Caps' }).click()
    await page.getByText('You are a read-only administrator').waitFor()
    t.equal(await page.getByRole('button', { name: 'Save cap' }).count(), 0)
    const status = await page.evaluate(async () => {
      const s = await (await fetch('/console/api/session')).json() as { csrf_token: string }
      const r = await fetch('/console/api/caps', { method: 'POST', headers: { 'content-type': 'application/json', 'x-csrf-token': s.csrf_token }, body: JSON.stringify({ scope: { type: 'organization' }, amount: '1', period: 'daily' }) })
      return r.status
    })
    t.equal(status, 403, 'the server refuses a change even when the page is bypassed')
    await ctx.close()
  })
})
