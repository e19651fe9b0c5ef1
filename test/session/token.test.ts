/**
 * Session tokens and the bearer verifier: claim names and order, key rotation, every refusal
 * reason, the verified-token cache, and revocations by token id and by subject.
 */
import { createHash, createHmac } from 'node:crypto'
import t from 'tap'
import { jwtVerify } from 'jose'
import { GatewayError } from '../../lib/errors.js'
import type { Req } from '../../lib/http/request.js'
import { CidrList } from '../../lib/net/cidr.js'
import { Sessions } from '../../lib/session/sessions.js'
import { AUDIENCE, keyRing, kidOf, mintToken, type TokenRefused, tokenId, verifySession } from '../../lib/session/token.js'

/** The principal a token verifies to, through the public path (`verifySession`). */
const verifyToken = (...a: Parameters<typeof verifySession>): ReturnType<typeof verifySession>['principal'] => verifySession(...a).principal
import { setLogSink } from '../../lib/log.js'

const A = 'a-secret-that-is-at-least-32-characters-long'
const B = 'b-secret-that-is-at-least-32-characters-long'
const part = (jwt: string, i: number): Record<string, unknown> => JSON.parse(Buffer.from(jwt.split('.')[i] as string, 'base64url').toString('utf8'))
const who = { sub: 'u-1', email: 'a@example.com', name: 'Ann', groups: ['eng', 'ops'] }

/** Sign an arbitrary payload the way a token is signed (to build malformed-but-signed tokens). */
function forge (secret: string, header: Record<string, unknown>, payload: Record<string, unknown>): string {
  const h = Buffer.from(JSON.stringify(header)).toString('base64url')
  const p = Buffer.from(JSON.stringify(payload)).toString('base64url')
  return `${h}.${p}.${createHmac('sha256', secret).update(`${h}.${p}`).digest('base64url')}`
}

t.test('mint: header, claim names and order, lifetime, issuer, billing tag', async (t) => {
  const ring = keyRing([A, B])
  t.equal(kidOf(A), createHash('sha256').update(A).digest('hex').slice(0, 16))
  const { token, expiresIn } = mintToken(ring, { ...who, billingGroupTag: 'cost-center' }, { ttlHours: 1.5, issuer: 'https://gw.example.com', now: 1_000_000_000_000 })
  t.equal(expiresIn, 5400)
  t.same(part(token, 0), { alg: 'HS256', typ: 'JWT', kid: kidOf(A) })
  const p = part(token, 1)
  t.same(Object.keys(p), ['sub', 'email', 'name', 'groups', 'billing_group_tag', 'aud', 'iat', 'exp', 'iss', 'jti'])
  t.match(p, { sub: 'u-1', aud: AUDIENCE, iat: 1_000_000_000, exp: 1_000_005_400, iss: 'https://gw.example.com', billing_group_tag: 'cost-center' })
  const bare = part(mintToken(ring, { sub: 'u-2', groups: [] }, { ttlHours: 1 }).token, 1)
  t.same(Object.keys(bare), ['sub', 'aud', 'iat', 'exp', 'jti'], 'absent values are left out')
  // a standard JWT library agrees
  const fresh = mintToken(ring, who, { ttlHours: 1, issuer: 'https://gw.example.com' }).token
  const { payload } = await jwtVerify(fresh, new TextEncoder().encode(A), { algorithms: ['HS256'], audience: AUDIENCE, issuer: 'https://gw.example.com' })
  t.equal(payload.sub, 'u-1')
})

t.test('verify: rotation and every refusal', async (t) => {
  const old = mintToken(keyRing([A]), who, { ttlHours: 1 }).token
  t.equal(verifyToken(keyRing([B, A]), old).sub, 'u-1', 'the old secret still verifies after rotation')
  t.throws(() => verifyToken(keyRing([B]), old), { name: 'GatewayError', reason: 'invalid_token' }, 'dropped secret: refused')
  const now = Math.floor(Date.now() / 1000)
  const base = { sub: 'u-1', aud: AUDIENCE, iat: now, exp: now + 60 }
  const reason = (fn: () => unknown): string => { try { fn(); return 'accepted' } catch (e) { return (e as TokenRefused).reason ?? String(e) } }
  const ring = keyRing([A])
  t.equal(reason(() => verifyToken(ring, forge(A, { alg: 'HS256' }, base))), 'accepted', 'no kid: every secret is tried')
  t.equal(reason(() => verifyToken(keyRing([B, A]), forge(A, { alg: 'HS256' }, base))), 'accepted')
  t.equal(reason(() => verifyToken(ring, forge(A, { alg: 'none', kid: kidOf(A) }, base))), 'invalid_token', 'alg none')
  t.equal(reason(() => verifyToken(ring, forge(A, { alg: 'HS256', kid: 'ffffffffffffffff' }, base))), 'invalid_token', 'unknown kid')
  t.equal(reason(() => verifyToken(ring, forge(B, { alg: 'HS256', kid: kidOf(A) }, base))), 'invalid_token', 'wrong key')
  t.equal(reason(() => verifyToken(ring, forge(A, { alg: 'HS256' }, { ...base, aud: 'other' }))), 'invalid_token', 'audience')
  t.equal(reason(() => verifyToken(ring, forge(A, { alg: 'HS256' }, { ...base, aud: ['x', AUDIENCE] }))), 'accepted', 'audience list')
  t.equal(reason(() => verifyToken(ring, forge(A, { alg: 'HS256' }, base), { issuer: 'https://gw' })), 'invalid_token', 'issuer required when configured')
  t.equal(reason(() => verifyToken(ring, forge(A, { alg: 'HS256' }, { ...base, exp: now - 1 }))), 'expired_token')
  t.equal(reason(() => verifyToken(ring, forge(A, { alg: 'HS256' }, { ...base, sub: '' }))), 'invalid_token', 'subject')
  t.equal(reason(() => verifyToken(ring, 'a.b')), 'invalid_token')
  t.equal(reason(() => verifyToken(ring, 'a.b.c')), 'invalid_token')
  t.match(tokenId(old), /^[0-9a-f]{32}$/)
  t.not(tokenId(old), old)
})

t.test('Sessions: header parsing, cache, expiry, revocations, audit', async (t) => {
  const lines: string[] = []
  setLogSink((l) => { lines.push(l) })
  t.teardown(() => setLogSink(undefined))
  const ring = keyRing([A])
  const s = new Sessions(ring, { trusted: new CidrList([]) })
  const rq = (authorization?: string): Req => ({ headers: authorization === undefined ? {} : { authorization }, id: 'r1', path: '/v1/messages', peer: '10.0.0.9', ip: '' } as unknown as Req)
  const { token } = mintToken(ring, who, { ttlHours: 1 })

  const p1 = s.authenticate(rq(`Bearer ${token}`))
  t.equal(p1.sub, 'u-1')
  t.equal(s.authenticate(rq(`bearer ${token}`)), p1, 'the second check is a cache hit (same object)')
  const missing = (() => { try { s.authenticate(rq()); return null } catch (e) { return e as GatewayError } })()
  t.equal(missing?.code, 'GW_AUTH_MISSING')
  t.equal(missing?.status, 401)
  const junk = (() => { try { s.authenticate(rq('Bearer junk')); return null } catch (e) { return e as GatewayError } })()
  t.equal(junk?.code, 'GW_AUTH_INVALID')
  const denied = lines.map((l) => JSON.parse(l)).filter((e) => e.evt === 'auth.denied')
  t.same(denied.map((e) => e.reason), ['missing_token', 'invalid_token'])
  t.same(denied[0], { ts: denied[0].ts, evt: 'auth.denied', request_id: 'r1', reason: 'missing_token', path: '/v1/messages', client_ip: '10.0.0.9' })
  t.notOk(lines.some((l) => l.includes(token)), 'no token material in the log')

  // revocation by token id
  const other = mintToken(ring, { sub: 'u-2' }, { ttlHours: 1 }).token
  s.applyRevocations([{ id: tokenId(token), exp: Date.now() / 1000 + 3600 }])
  t.throws(() => s.verify(token), { reason: 'revoked_token', code: 'GW_AUTH_REVOKED' }, 'a revoked token is refused')
  t.equal(s.verify(other).sub, 'u-2', 'other tokens are unaffected')
  // revocation by subject and cut-off
  const now = Math.floor(Date.now() / 1000)
  s.applyRevocations([{ sub: 'u-2', before: now + 1, exp: now + 3600 }])
  t.throws(() => s.verify(other), { name: 'GatewayError', reason: 'revoked_token' }, 'tokens of the subject issued before the cut-off are refused')
  // expired entries are ignored
  const third = mintToken(ring, { sub: 'u-3' }, { ttlHours: 1 }).token
  s.applyRevocations([{ id: tokenId(third), exp: now - 1 }])
  t.equal(s.verify(third).sub, 'u-3')
  // a cached token that expires is refused
  const short = mintToken(ring, { sub: 'u-4' }, { ttlHours: 1 / 3600 }).token
  t.equal(s.verify(short).sub, 'u-4')
  await new Promise((resolve) => setTimeout(resolve, 1100))
  t.throws(() => s.verify(short), { reason: 'expired_token', code: 'GW_AUTH_EXPIRED' }, 'cached, then expired')
})

t.test('verify: only the canonical spelling, and the id follows the bytes', async (t) => {
  const ring = keyRing([A])
  const { token } = mintToken(ring, who, { ttlHours: 1 })
  const [h, p, s] = token.split('.') as [string, string, string]
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
  const spare = s.slice(0, -1) + alphabet[alphabet.indexOf(s.slice(-1)) ^ 1]
  t.ok(Buffer.from(spare, 'base64url').equals(Buffer.from(s, 'base64url')), 'the spare-bit variant decodes to the same signature')
  const variants = [`${h}.${p}.${s}=`, `${h}.${p}.${spare}`, `${h}.${p}.${s}!`, `${h}=.${p}.${s}`, `${h}.${p}==.${s}`, `${h}.${p}.${s.replace(/[-_]/g, (c) => c === '-' ? '+' : '/')}=`]
  for (const v of variants) {
    t.throws(() => verifyToken(ring, v), { name: 'GatewayError', reason: 'invalid_token' }, `refused: ${v.slice(-6)}`)
    t.equal(tokenId(v), tokenId(token), 'a re-spelling names the same token id (sign-out revokes what it stands for)')
  }
  const s2 = new Sessions(ring, { trusted: new CidrList([]) })
  s2.applyRevocations([{ id: tokenId(`${h}.${p}.${spare}`), exp: Date.now() / 1000 + 3600 }])
  t.throws(() => s2.verify(token), { name: 'GatewayError', reason: 'revoked_token' }, 'revoked through the id of a re-spelling')
  t.not(mintToken(ring, who, { ttlHours: 1 }).token, mintToken(ring, who, { ttlHours: 1 }).token, 'two tokens minted in one second differ (jti)')
  const now = Math.floor(Date.now() / 1000)
  const base = { sub: 'u-1', aud: AUDIENCE, iat: now, exp: now + 60 }
  t.throws(() => verifyToken(ring, forge(A, { alg: 'HS256', kid: kidOf(A), jku: 'http://x/' }, base)), { name: 'GatewayError', reason: 'invalid_token' }, 'jku')
  t.throws(() => verifyToken(ring, forge(A, { alg: 'HS256', kid: kidOf(A) }, { ...base, iat: now + 3600 })), { name: 'GatewayError', reason: 'invalid_token' }, 'iat in the future')
  t.throws(() => verifyToken(ring, forge(A, { alg: 'HS256', kid: kidOf(A) }, { ...base, nbf: now + 3600 })), { name: 'GatewayError', reason: 'invalid_token' }, 'nbf')
  t.equal(verifyToken(ring, forge(A, { alg: 'HS256', kid: kidOf(A) }, { ...base, nbf: now - 1 })).sub, 'u-1', 'nbf passed')
})

t.test('a verifier rebuilt by a config reload (new signing key) keeps refusing what the old one refused', async (t) => {
  const oldRing = keyRing(['old-secret-0123456789abcdef0123456789abcdef'])
  const newRing = keyRing(['new-secret-0123456789abcdef0123456789abcdef', 'old-secret-0123456789abcdef0123456789abcdef'])
  const trusted = new CidrList([])
  const before = new Sessions(oldRing, { trusted })
  const revoked = mintToken(oldRing, { sub: 'u-1' }, { ttlHours: 1 }).token
  const signedOut = mintToken(oldRing, { sub: 'u-2' }, { ttlHours: 1 }).token
  const kept = mintToken(oldRing, { sub: 'u-3' }, { ttlHours: 1 }).token
  const now = Math.floor(Date.now() / 1000)
  before.applyRevocations([{ id: tokenId(revoked), exp: now + 3600 }, { sub: 'u-2', before: now + 1, exp: now + 3600 }])
  const after = new Sessions(newRing, { trusted })
  after.inheritRevocations(before)
  t.throws(() => after.verify(revoked), { name: 'GatewayError', reason: 'revoked_token' }, 'a revoked token id stays revoked')
  t.throws(() => after.verify(signedOut), { name: 'GatewayError', reason: 'revoked_token' }, 'a signed-out subject stays signed out')
  t.equal(after.verify(kept).sub, 'u-3', 'other tokens signed with a still-listed key verify')
})
