/**
 * The audit page's bounded target search in a real browser (Debian's chromium driven by
 * playwright-core; skipped, saying why, where /usr/bin/chromium is absent). A trail longer than one
 * search window (AUDIT_SEARCH_WINDOW) is written straight into the gateway's Postgres, then:
 * - a search whose only match lies beyond the first window shows no rows and says how far back it
 *   searched (the id the server returned as `searched_to_id`); "Search older", reached and pressed
 *   with the keyboard, asks again below that id and shows the match, with no notice left (the
 *   second window reached the start of the trail) and keyboard focus moves to the notice saying so,
 *   not to the page body; "Newer" goes back to the first window;
 * - a search with a match inside a window that ended early shows the match and the notice; the
 *   next window has none and says plainly that no events match, with focus on the end notice and
 *   the next Tab stop the pager;
 * - a search that fills the page from the first window shows its rows with no notice, and "Older"
 *   pages on from the last row as before.
 */
import t from 'tap'
import { existsSync, mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import postgres from 'postgres'
import { AUDIT_SEARCH_WINDOW } from '../../lib/console/primary.js'
import { ADMIN, consoleGateway } from './helpers.js'

/** The page's globals, as the functions run inside the browser see them (no DOM lib in this project). */
declare const document: any // eslint-disable-line @typescript-eslint/no-explicit-any

const CHROMIUM = '/usr/bin/chromium'
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking']
// Rows written after the deep match: more than one window, so the match is out of the first one.
const FILLERS = AUDIT_SEARCH_WINDOW + 500
// Screenshots of the notice, light and dark, for a person to look at; never the README's ones.
// What the page says, and focuses, when "Search older" reached the start of the trail.
const END = 'Searched to the start of the trail: there are no older events to search.'
const SHOTS = process.env.WEIR_AUDIT_SHOTS ?? mkdtempSync(join(tmpdir(), 'weir-audit-shots-'))

t.test('the audit page follows a bounded target search', { skip: existsSync(CHROMIUM) ? false : `${CHROMIUM} is not installed (Debian's chromium package; .ci/run installs it on the host)` }, async (t) => {
  const { chromium } = await import('playwright-core')
  const { url, idp, dbUrl } = await consoleGateway(t)
  const sql = postgres(dbUrl, { max: 1, onnotice: () => {} })
  t.teardown(() => sql.end())
  // Oldest first (ids are an identity column): the deep match, then FILLERS rows that do not match it.
  await sql`insert into admin_audit (actor, action, target, before, after) values ('oidc:seed', 'seed.deep', 'user:needle-deep', null, '{"amount": 1}')`
  await sql`insert into admin_audit (actor, action, target, before, after)
    select 'oidc:seed', 'seed.fill', 'user:filler-' || i, null, jsonb_build_object('amount', i) from generate_series(1, ${FILLERS}::int) i`
  const ids = (await sql<Array<{ id: string, target: string }>>`select a.id::text as id, a.target from admin_audit a order by a.id desc`)
  t.ok(ids.length > AUDIT_SEARCH_WINDOW + 1, `the trail is longer than one window (${ids.length} rows)`)
  const deep = ids.find((r) => r.target === 'user:needle-deep')
  const deepAt = ids.indexOf(deep as typeof ids[number])
  t.ok(deepAt >= AUDIT_SEARCH_WINDOW, `the deep match is beyond the first window (${deepAt} rows back)`)
  // The first window's oldest row: where a search of the whole trail stops first.
  const firstEdge = ids[AUDIT_SEARCH_WINDOW - 1]?.id as string

  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS, headless: true })
  t.teardown(() => browser.close())
  idp.setUser(ADMIN.email)
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 860 } })
  const page = await ctx.newPage()
  await page.goto(`${url}/console/`)
  await page.getByRole('link', { name: 'Sign in' }).click()
  await page.getByRole('heading', { level: 1, name: 'Overview' }).waitFor()
  await page.getByRole('link', { name: 'Audit' }).click()
  await page.getByRole('heading', { level: 2, name: 'Audit trail' }).waitFor()
  const asked: URL[] = []
  page.on('request', (r) => { const u = new URL(r.url()); if (u.pathname === '/console/api/audit') asked.push(u) })

  const notice = page.getByText(/Searched back to event/)
  const searchOlder = page.getByRole('button', { name: 'Search older' })
  const rows = page.locator('tbody tr')
  const targets = async (): Promise<string[]> => await page.locator('tbody tr td:nth-child(4)').allTextContents()
  /** Type a target search and submit it with Enter, as a keyboard user would. */
  const search = async (text: string): Promise<void> => {
    const box = page.getByLabel('Target contains')
    await box.fill(text)
    const reply = page.waitForResponse((r) => new URL(r.url()).pathname === '/console/api/audit' && new URL(r.url()).searchParams.get('target') === text)
    await box.press('Enter')
    await reply
  }

  await t.test('a match beyond the first window: the notice, then "Search older" by keyboard finds it', async (t) => {
    await search('needle-deep')
    await notice.waitFor()
    t.equal(await notice.textContent(), `Searched back to event ${firstEdge} — older events may match.`, 'the notice names the oldest event the server examined')
    t.equal(await rows.count(), 0, 'no rows in the first window')
    t.equal(await page.getByText('No events match in this part of the trail.').count(), 1, 'the empty message says only this part was searched')
    t.equal(await page.getByText('No events match.', { exact: true }).count(), 0, 'not that nothing matches')
    t.equal(await page.getByRole('button', { name: 'Older', exact: true }).isDisabled(), true, '"Older" stays off: no match is certain')
    for (const scheme of ['light', 'dark'] as const) {
      await page.emulateMedia({ colorScheme: scheme })
      await page.screenshot({ path: join(SHOTS, `audit-search-${scheme}.png`), fullPage: true })
    }
    await page.emulateMedia({ colorScheme: 'light' })
    // The keyboard path: Enter left focus in the search box; Tab reaches Filter, then Search older
    // (the disabled pager buttons after it take no focus).
    await page.keyboard.press('Tab')
    t.equal(await page.evaluate(() => document.activeElement?.textContent), 'Filter')
    await page.keyboard.press('Tab')
    t.equal(await page.evaluate(() => document.activeElement?.textContent), 'Search older', 'Tab reaches "Search older"')
    const reply = page.waitForResponse((r) => new URL(r.url()).pathname === '/console/api/audit' && new URL(r.url()).searchParams.get('before_id') === firstEdge)
    await page.keyboard.press('Enter')
    await reply
    await page.getByRole('cell', { name: 'user:needle-deep' }).waitFor()
    t.same(await targets(), ['user:needle-deep'], 'the second window shows the match, alone')
    t.equal(await notice.count(), 0, 'no notice: the second window reached the start of the trail')
    t.equal(await searchOlder.count(), 0)
    // The button is gone: focus moved to the notice that the search reached the start, not to the page.
    await page.waitForFunction(() => document.activeElement !== document.body, undefined, { timeout: 10_000 })
    t.equal(await page.evaluate(() => document.activeElement?.textContent), END, 'focus is on the end-of-trail notice, not the page body')
    t.equal(await page.evaluate(() => document.activeElement?.getAttribute('role')), 'status')
    const last = asked.at(-1)
    t.equal(last?.searchParams.get('before_id'), firstEdge, 'asked again below searched_to_id')
    t.equal(last?.searchParams.get('target'), 'needle-deep', 'with the same search')
    await page.getByRole('button', { name: 'Newer' }).click()
    await notice.waitFor()
    t.equal(await notice.textContent(), `Searched back to event ${firstEdge} — older events may match.`, '"Newer" goes back to the first window')
    t.equal(await rows.count(), 0)
  })

  await t.test('a match in a window that ended early shows with the notice; the next window has none', async (t) => {
    // filler-FILLERS is the newest row, and only it contains that text: one match, page not full.
    const only = `filler-${FILLERS}`
    await search(only)
    await page.getByRole('cell', { name: `user:${only}` }).waitFor()
    t.same(await targets(), [`user:${only}`], 'the match is shown')
    t.equal(await notice.textContent(), `Searched back to event ${firstEdge} — older events may match.`, 'and the window\'s end is said')
    await searchOlder.focus()
    await page.keyboard.press('Enter')
    await page.getByText('No events match.', { exact: true }).waitFor()
    t.equal(await rows.count(), 0, 'nothing older matches')
    t.equal(await notice.count(), 0, 'and the search reached the start of the trail')
    await page.waitForFunction(() => document.activeElement !== document.body, undefined, { timeout: 10_000 })
    t.equal(await page.evaluate(() => document.activeElement?.textContent), END, 'keyboard focus kept its place: the end-of-trail notice')
    // Tab goes on from there to the pager, not from the top of the page.
    await page.keyboard.press('Tab')
    t.equal(await page.evaluate(() => document.activeElement?.textContent), 'Newer', 'the next Tab stop is "Newer"')
  })

  await t.test('a search that fills the page from the first window: rows, no notice, "Older" pages on', async (t) => {
    await search('filler-')
    await page.getByRole('cell', { name: `user:filler-${FILLERS}`, exact: true }).waitFor()
    const first = await targets()
    t.same(first, Array.from({ length: 25 }, (_, i) => `user:filler-${FILLERS - i}`), 'the newest 25 matches')
    t.equal(await notice.count(), 0, 'no notice')
    t.equal(await searchOlder.count(), 0, 'no "Search older"')
    const older = page.getByRole('button', { name: 'Older', exact: true })
    t.equal(await older.isDisabled(), false, '"Older": another match certainly exists')
    await older.click()
    await page.getByRole('cell', { name: `user:filler-${FILLERS - 25}`, exact: true }).waitFor()
    t.same(await targets(), Array.from({ length: 25 }, (_, i) => `user:filler-${FILLERS - 25 - i}`), 'the next 25, from the last row')
    t.equal(await notice.count(), 0)
    const before = asked.at(-1)?.searchParams.get('before_id')
    t.equal(before, ids.find((r) => r.target === `user:filler-${FILLERS - 24}`)?.id, 'paged from the last row shown')
  })
  await ctx.close()
})
