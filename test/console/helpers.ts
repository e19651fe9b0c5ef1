/**
 * Shared setup of the console tests: a real gateway (real Postgres, the dev OIDC provider, a fake
 * Anthropic upstream whose every reply costs one cent) with `admin:` configured, an administrator
 * (group finops), a read-only administrator (group auditors) and a developer (group eng), and a
 * sign-in helper that drives the console's authorization-code flow over HTTP with a cookie jar.
 */
import type { Test } from 'tap'
import { startDevIdp, type DevIdp, type DevUser } from '../../lib/dev/idp.js'
import { Browser, type HttpRes } from '../auth/helpers/flow.js'
import { oneCentUpstream, spendGateway } from '../integration/spend-helpers.js'
import type { TestGateway } from '../helpers/gateway.js'

export const ADMIN: DevUser = { sub: 'u-admin', email: 'ada@example.com', name: 'Ada Admin', groups: ['finops'] }
export const READER: DevUser = { sub: 'u-reader', email: 'rita@example.com', name: 'Rita Reader', groups: ['auditors'] }
export const DEV: DevUser = { sub: 'u-dev', email: 'dev@example.com', name: 'Dev', groups: ['eng'] }

export async function consoleGateway (t: Test, users: DevUser[] = [ADMIN, READER, DEV]): Promise<TestGateway & { idp: DevIdp }> {
  const idp = await startDevIdp({
    users,
    clients: [{ client_id: 'weir-test', client_secret: 'weir-test-secret', redirect_uris: ['http://127.0.0.1/oauth/callback', 'http://127.0.0.1/console/callback'] }],
  })
  t.teardown(() => idp.close())
  const fake = await oneCentUpstream(t)
  const gw = await spendGateway(t, fake, { idp }, (c) => { c.admin.read_only_groups = ['auditors'] })
  return { ...gw, idp }
}

export interface ConsoleSignIn { browser: Browser, callback: HttpRes, cookie: string | undefined, cookieLine: string | undefined }

/** Sign `email` in to the console over HTTP: /console/login → IdP → /console/callback. */
export async function consoleSignIn (url: string, idp: DevIdp, email: string): Promise<ConsoleSignIn> {
  idp.setUser(email)
  const browser = new Browser()
  const login = await browser.go(`${url}/console/login`)
  const { res } = await browser.follow(`${url}/console/login`, login, (next) => !(next.origin === url && next.pathname === '/console/'))
  const cookieLine = res.cookies.find((c) => c.startsWith('weir_console='))
  return { browser, callback: res, cookie: browser.cookie(url, 'weir_console'), cookieLine }
}

/** A console API call with the session cookie (and, when given, the CSRF token). */
export async function consoleApi (url: string, s: ConsoleSignIn, method: string, path: string, o: { body?: unknown, csrf?: string, headers?: Record<string, string> } = {}): Promise<HttpRes> {
  const u = new URL(`${url}/console/api${path}`)
  const headers: Record<string, string> = { cookie: s.browser.cookieHeader(u), ...o.headers }
  if (o.csrf !== undefined) headers['x-csrf-token'] = o.csrf
  let body: string | undefined
  if (o.body !== undefined) { body = JSON.stringify(o.body); headers['content-type'] = 'application/json' }
  const { request } = await import('undici')
  const r = await request(u, { method: method as 'GET', headers, body })
  const text = await r.body.text()
  const out: Record<string, string> = {}
  let cookies: string[] = []
  for (const [k, v] of Object.entries(r.headers)) {
    if (k === 'set-cookie') cookies = Array.isArray(v) ? v : [String(v)]
    out[k] = Array.isArray(v) ? v.join(', ') : String(v)
  }
  return { status: r.statusCode, headers: out, cookies, text, json: () => JSON.parse(text) }
}
