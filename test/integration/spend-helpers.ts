/**
 * Shared setup of the spend integration tests: a real gateway with `admin:` configured in front of
 * a fake Anthropic upstream whose every reply costs exactly one cent on Haiku 4.5.
 */
import type { Test } from 'tap'
import { keyRing, mintToken } from '../../lib/session/token.js'
import { simpleStream, startFakeUpstream, type FakeUpstream } from '../helpers/fake-upstream.js'
import { startTestGateway, TEST_SECRET, type TestGateway, type TestGatewayOptions } from '../helpers/gateway.js'
import { req, type Res } from '../helpers/http.js'

export const WRITE_KEY = 'w'.repeat(40)
export const READ_KEY = 'r'.repeat(40)
export const MODEL = 'claude-haiku-4-5'
/** 10,000 input tokens on Haiku 4.5 ($1/MTok): exactly 1 cent. */
export const ONE_CENT = { input_tokens: 10_000, output_tokens: 0, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 }
/** A request body of about 10 kB, so its worst case (about 2.3 cents) covers the cent it costs. */
export const BODY = JSON.stringify({ model: MODEL, max_tokens: 100, stream: true, messages: [{ role: 'user', content: 'x'.repeat(10_000) }] })

export function bearer (sub: string, groups: string[] = []): string {
  return mintToken(keyRing([TEST_SECRET]), { sub, email: `${sub}@example.com`, name: sub, groups }, { ttlHours: 1 }).token
}

export async function oneCentUpstream (t: Test, delayMs = 0): Promise<FakeUpstream> {
  const fake = await startFakeUpstream(() => ({ kind: 'sse', frames: simpleStream('hi', ONE_CENT), delayMs }))
  t.teardown(() => fake.close())
  return fake
}

/** Point a test config at `fake` and turn spend control on. */
export function spendConfig (c: Record<string, any>, fake: FakeUpstream, more?: (c: Record<string, any>) => void): Record<string, any> { // eslint-disable-line @typescript-eslint/no-explicit-any
  c.upstreams = [{ provider: 'anthropic', name: 'anthropic', base_url: fake.url, auth: { api_key: 'sk-test' } }]
  c.admin = { write_keys: [{ id: 'terraform', key: WRITE_KEY }], read_keys: [{ id: 'dash', key: READ_KEY }], admin_groups: ['finops'] }
  more?.(c)
  return c
}

export async function spendGateway (t: Test, fake: FakeUpstream, opts: TestGatewayOptions = {}, more?: (c: Record<string, any>) => void): Promise<TestGateway> { // eslint-disable-line @typescript-eslint/no-explicit-any
  return await startTestGateway(t, { ...opts, config: (c) => { spendConfig(c, fake, more) } })
}

export async function admin (url: string, method: string, path = '', body?: unknown, key = WRITE_KEY): Promise<Res> {
  return await req(`${url}/v1/organizations/spend_limits${path}`, {
    method,
    headers: { 'x-api-key': key, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  })
}

/**
 * Set a cap through the admin API and wait until `token`'s requests see it (via /api/oauth/usage).
 * A user cap is forced: tests set it before the developer's first request, when Weir has not seen
 * the subject yet (the admin API refuses that without `force`).
 */
export async function setCap (url: string, token: string, body: Record<string, unknown>, expectLimits = true): Promise<string> {
  const scope = body.scope as { type?: string } | undefined
  const r = await admin(url, 'POST', '', scope?.type === 'user' && !('force' in body) ? { ...body, force: true } : body)
  if (r.status !== 200) throw new Error(`cap not set: ${r.status} ${r.text}`)
  const id = (r.json() as { id: string }).id
  for (let i = 0; i < 250; i++) {
    const u = await usage(url, token)
    if (u.status === 200 && ((u.json() as { limits: unknown[] }).limits.length > 0) === expectLimits) return id
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
  throw new Error('the cap did not take effect')
}

export async function usage (url: string, token: string): Promise<Res> {
  return await req(`${url}/api/oauth/usage`, { headers: { authorization: `Bearer ${token}` } })
}

export async function post (url: string, token: string, body = BODY, path = '/v1/messages'): Promise<Res> {
  return await req(`${url}${path}`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body })
}

/** Poll until `fn` is truthy (bounded: generous, metering flushes in batches and the CI machine may be loaded). */
export async function eventually<T> (fn: () => Promise<T>, what: string, ms = 30_000): Promise<T> {
  const until = Date.now() + ms
  for (;;) {
    const v = await fn()
    if (v) return v
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
}
