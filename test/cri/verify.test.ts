/**
 * CRI token admission against a real JWKS endpoint over a loopback socket: what is accepted, each
 * refusal reason (audited as `auth.denied` `cri_<reason>`), and the key cache's timing rules
 * (max-age and its cap, unknown-kid refetch and its cooldown, outage and the staleness ceiling).
 */
import t from 'tap'
import { CriGate } from '../../lib/cri/gate.js'
import { DEFAULT_FRESH_MS, freshnessOf, JwksCache, JwksUnavailable, MAX_FRESH_MS, STALE_CEILING_MS, UNKNOWN_KID_COOLDOWN_MS } from '../../lib/cri/jwks.js'
import { isGatewayError } from '../../lib/errors.js'
import type { Req } from '../../lib/http/request.js'
import { setLogSink } from '../../lib/log.js'
import { CidrList } from '../../lib/net/cidr.js'
import { guardedAgent } from '../../lib/net/ssrf.js'
import { AUDIENCE, makeKey, ORG, startIssuer } from './issuer.js'

process.env.CLAUDE_GATEWAY_ALLOW_LOOPBACK = '1'

const lines: string[] = []
setLogSink((l) => { lines.push(l) })
t.teardown(() => setLogSink(undefined))

const reqWith = (token: string): Req => ({ headers: { authorization: `Bearer ${token}` }, id: `r-${lines.length}`, path: '/v1/messages', query: '', peer: '127.0.0.1', ip: '' }) as unknown as Req

/** The audit reason and answer for `token`: 'ok', or the refusal. */
async function outcome (gate: CriGate, token: string): Promise<{ result: string, reason?: string, org?: string }> {
  const rq = reqWith(token)
  try {
    const got = gate.tokenOf(rq)
    if (got === null) return { result: 'not-cri' }
    await gate.authenticate(rq, got)
    return { result: 'ok' }
  } catch (err) {
    if (!isGatewayError(err)) throw err
    const line = lines.map((l) => JSON.parse(l) as Record<string, string>).find((l) => l.evt === 'auth.denied' && l.request_id === rq.id)
    return { result: `${err.status} ${err.message}`, ...(line !== undefined ? { reason: line.reason, org: line.org } : {}) }
  }
}

t.test('accepts a good token; refuses each kind of bad one with its reason', async (t) => {
  const iss = await startIssuer()
  t.teardown(() => iss.close())
  const key = await makeKey('k1')
  const other = await makeKey('k-unpublished')
  const p384 = await makeKey('k384', 'ES384')
  iss.published = [key, p384]
  const gate = new CriGate({ enabled: true, audience: [AUDIENCE, 'second'], issuer: iss.issuer, jwks_url: iss.url, org_allowlist: [ORG] }, new CidrList([]))

  t.same(await outcome(gate, await iss.mint(key)), { result: 'ok' })
  t.same(await outcome(gate, await iss.mint(key, { aud: ['elsewhere', 'second'], org: ORG.toUpperCase(), act: { sub: 'admin@corp' } })), { result: 'ok' }, 'any listed audience; org compared lowercased; act.sub allowed')
  const now = Math.floor(Date.now() / 1000)
  t.same(await outcome(gate, await iss.mint(key, { exp: now - 30 })), { result: 'ok' }, 'expired within the 60 s skew')
  const cases: Array<[string, Promise<string>, string]> = [
    ['wrong audience', iss.mint(key, { aud: 'someone-else' }), 'cri_wrong_audience'],
    ['wrong issuer', iss.mint(key, { iss: 'https://evil.example.com/cri' }), 'cri_wrong_issuer'],
    ['scope', iss.mint(key, { scope: 'inference admin' }), 'cri_bad_scope'],
    ['org not allowlisted', iss.mint(key, { org: '11111111-2222-3333-4444-555555555555' }), 'cri_org_not_allowed'],
    ['expired beyond skew', iss.mint(key, { exp: now - 61, iat: now - 700 }), 'cri_expired'],
    ['issued in the future', iss.mint(key, { iat: now + 120, exp: now + 900 }), 'cri_issued_in_future'],
    ['missing org', iss.mint(key, {}, { omit: ['org'] }), 'cri_missing_org'],
    ['missing scope', iss.mint(key, {}, { omit: ['scope'] }), 'cri_missing_scope'],
    ['bad alg (ES384)', iss.mint(p384, {}, { alg: 'ES384' }), 'cri_bad_alg'],
    ['unknown kid', iss.mint(other), 'cri_unknown_kid'],
  ]
  for (const [name, tok, reason] of cases) {
    const o = await outcome(gate, await tok)
    t.equal(o.result, '401 invalid token', `${name}: 401`)
    t.equal(o.reason, reason, `${name}: audited as ${reason}`)
  }
  const forged = (await iss.mint(key)).split('.')
  const sig = Buffer.from(forged[2] as string, 'base64url')
  sig[5] = (sig[5] as number) ^ 0xff
  const bad = await outcome(gate, `${forged[0]}.${forged[1]}.${sig.toString('base64url')}`)
  t.same([bad.result, bad.reason], ['401 invalid token', 'cri_bad_signature'], 'tampered signature')
  t.equal((await outcome(gate, await iss.mint(key, { org: '11111111-2222-3333-4444-555555555555' }))).org, '11111111-2222-3333-4444-555555555555', 'the refused org is audited')
  t.same(await outcome(gate, await iss.mint(key, {}, { typ: 'JWT' })), { result: 'not-cri' }, 'a plain JWT is left to the session verifier')
  t.same(await outcome(gate, 'not-a-token'), { result: 'not-cri' })
})

t.test('issuer unavailable: 503 with retry-after 30, nothing audited as a token refusal', async (t) => {
  const iss = await startIssuer()
  t.teardown(() => iss.close())
  const key = await makeKey('k1')
  iss.published = [key]
  iss.down = true
  const gate = new CriGate({ enabled: true, audience: [AUDIENCE], issuer: iss.issuer, jwks_url: iss.url, org_allowlist: [ORG] }, new CidrList([]))
  const rq = reqWith(await iss.mint(key))
  const err = await gate.authenticate(rq, gate.tokenOf(rq) as string).then(() => null, (e: unknown) => e)
  t.ok(isGatewayError(err))
  if (!isGatewayError(err)) return
  t.equal(err.status, 503)
  t.equal(err.type, 'api_error')
  t.match(err.message, /^customer-routed inference is temporarily unavailable: /)
  t.same(err.headers, { 'retry-after': '30' })
})

t.test('key cache: max-age (capped), unknown-kid refetch with cooldown, outage and staleness ceiling', async (t) => {
  t.equal(freshnessOf(null), DEFAULT_FRESH_MS)
  t.equal(freshnessOf('public, max-age=120'), 120_000)
  t.equal(freshnessOf('max-age=999999'), MAX_FRESH_MS, 'capped at 3 hours')
  t.equal(freshnessOf('no-store'), DEFAULT_FRESH_MS)

  const iss = await startIssuer()
  t.teardown(() => iss.close())
  const k1 = await makeKey('k1')
  const k2 = await makeKey('k2')
  iss.published = [k1]
  iss.cacheControl = 'max-age=300'
  let clock = 1_000_000
  const agent = guardedAgent()
  t.teardown(() => agent.close())
  const cache = new JwksCache({ url: iss.url, dispatcher: agent, now: () => clock })
  t.ok(await cache.forKid('k1'), 'first lookup fetches')
  t.equal(iss.hits, 1)
  clock += 299_000
  t.ok(await cache.forKid('k1'))
  t.equal(iss.hits, 1, 'fresh for max-age')
  clock += 2_000
  t.ok(await cache.forKid('k1'))
  t.equal(iss.hits, 2, 'refetched after max-age')

  // A new key appears: an unknown kid refetches once, then not again within the cooldown.
  iss.published = [k1, k2]
  t.ok(await cache.forKid('k2'), 'unknown kid: refetched and found')
  t.equal(iss.hits, 3)
  t.equal(await cache.forKid('k-forged'), null, 'still unknown')
  t.equal(iss.hits, 3, 'no refetch inside the 60 s cooldown')
  t.equal(await cache.forKid('k-forged-2'), null)
  t.equal(iss.hits, 3)
  clock += UNKNOWN_KID_COOLDOWN_MS
  t.equal(await cache.forKid('k-forged'), null)
  t.equal(iss.hits, 4, 'after the cooldown an unknown kid may refetch again')

  // Outage: the last good set serves until it is 6 hours old, then lookups fail.
  iss.down = true
  clock += 301_000
  t.ok(await cache.forKid('k1'), 'stale set serves through an outage')
  t.ok(iss.hits >= 5, 'a refetch was attempted')
  clock += STALE_CEILING_MS
  await t.rejects(cache.forKid('k1'), JwksUnavailable, 'past the 6 h ceiling the set is not trusted')
  iss.down = false
  clock += 10_000
  t.ok(await cache.forKid('k1'), 'recovers once the issuer answers')
})
