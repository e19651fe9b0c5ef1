/**
 * Token attacks against a running gateway (real sockets, real Postgres, the built-in OIDC provider,
 * a fake Anthropic upstream): forged and tampered bearers, algorithm confusion, foreign and
 * retired keys, kid tricks, time claims, and sign-out that must stay signed out — a revoked token
 * re-spelled in any way a lenient base64url decoder accepts, on /v1/messages and on the spend-limits
 * admin API, and the refresh grant of a revoked sign-in.
 */
import { createHmac } from 'node:crypto'
import { exportJWK, generateKeyPair, SignJWT } from 'jose'
import t from 'tap'
import { kidOf } from '../../lib/session/token.js'
import { eventually as soon, http, refresh, signIn } from '../auth/helpers/flow.js'
import { TEST_SECRET } from '../helpers/gateway.js'
import { req } from '../helpers/http.js'
import { admin, bearer, oneCentUpstream, post, spendGateway } from '../integration/spend-helpers.js'
import { claims, forge, respellings, sameBytes } from './forge.js'

const KID = kidOf(TEST_SECRET)
const RETIRED = 'a-retired-secret-that-signed-tokens-once-0123456789'
const FOREIGN = 'somebody-elses-secret-0123456789abcdef0123456789'
const FIN = { sub: 'u-fin', email: 'fin@example.com', name: 'Fin', groups: ['finops'] }
const CAP = { scope: { type: 'user', user_id: 'u-target' }, amount: '500' }

t.test('token attacks', async (t) => {
  const fake = await oneCentUpstream(t)
  const g = await spendGateway(t, fake, { users: [FIN] })
  const url = g.url
  const messages = async (token: string): Promise<number> => (await post(url, token)).status
  const adminAs = async (token: string, method: string, path = '', body?: unknown): Promise<number> =>
    (await req(`${url}/v1/organizations/spend_limits${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    })).status
  const revoke = async (token: string): Promise<number> => (await http(`${url}/oauth/revoke`, { form: { token } })).status

  await t.test('a genuine token works (the baseline every refusal below is measured against)', async (t) => {
    t.equal(await messages(bearer('u-ok')), 200)
    t.equal(await messages(forge({ alg: 'HS256', typ: 'JWT', kid: KID }, claims('u-ok'), TEST_SECRET)), 200, 'the forge helper signs like Weir')
    t.equal(await adminAs(bearer('u-fin', ['finops']), 'GET'), 200)
  })

  await t.test('forged headers: alg none, alg confusion, embedded and remote keys', async (t) => {
    const c = claims('u-mallory', ['finops'])
    const hmac = (alg: string, h: Record<string, unknown>): string => {
      const hp = `${Buffer.from(JSON.stringify(h)).toString('base64url')}.${Buffer.from(JSON.stringify(c)).toString('base64url')}`
      const algo = ({ HS384: 'sha384', HS512: 'sha512' } as Record<string, string>)[alg] ?? 'sha256'
      return `${hp}.${createHmac(algo, TEST_SECRET).update(hp).digest('base64url')}`
    }
    const rsa = await generateKeyPair('RS256')
    const ec = await generateKeyPair('ES256')
    const rsaJwk = await exportJWK(rsa.publicKey)
    const attackerOct = 'attacker-chosen-hmac-key-0123456789abcdef'
    const cases: Array<[string, string]> = [
      ['alg none, no signature', forge({ alg: 'none', typ: 'JWT', kid: KID }, c, { sig: '' })],
      ['alg None, no signature', forge({ alg: 'None', typ: 'JWT' }, c, { sig: '' })],
      ['alg none with a real HMAC', forge({ alg: 'none', typ: 'JWT', kid: KID }, c, TEST_SECRET)],
      ['no alg', forge({ typ: 'JWT', kid: KID }, c, TEST_SECRET)],
      ['alg hs256 (case)', forge({ alg: 'hs256', typ: 'JWT', kid: KID }, c, TEST_SECRET)],
      ['alg RS256 carrying an HMAC by the real secret', forge({ alg: 'RS256', typ: 'JWT', kid: KID }, c, TEST_SECRET)],
      ['alg ES256 carrying an HMAC by the real secret', forge({ alg: 'ES256', typ: 'JWT', kid: KID }, c, TEST_SECRET)],
      ['alg HS384 by the real secret', hmac('HS384', { alg: 'HS384', typ: 'JWT', kid: KID })],
      ['alg HS512 by the real secret', hmac('HS512', { alg: 'HS512', typ: 'JWT', kid: KID })],
      ['RS256 by a foreign RSA key', await new SignJWT(c).setProtectedHeader({ alg: 'RS256', kid: KID }).sign(rsa.privateKey)],
      ['ES256 by a foreign EC key', await new SignJWT(c).setProtectedHeader({ alg: 'ES256', kid: KID }).sign(ec.privateKey)],
      ['RS256 with its own key embedded (jwk)', await new SignJWT(c).setProtectedHeader({ alg: 'RS256', jwk: rsaJwk }).sign(rsa.privateKey)],
      ['HS256 with an attacker key embedded (jwk oct)', forge({ alg: 'HS256', typ: 'JWT', jwk: { kty: 'oct', k: Buffer.from(attackerOct).toString('base64url') } }, c, attackerOct)],
      ['HS256 pointing at a remote key set (jku)', forge({ alg: 'HS256', typ: 'JWT', jku: 'http://127.0.0.1:1/jwks.json' }, c, attackerOct)],
      ['HS256 pointing at a remote certificate (x5u)', forge({ alg: 'HS256', typ: 'JWT', x5u: 'http://127.0.0.1:1/cert.pem' }, c, attackerOct)],
      ['jku beside a real signature', forge({ alg: 'HS256', typ: 'JWT', kid: KID, jku: 'http://127.0.0.1:1/jwks.json' }, c, TEST_SECRET)],
      ['crit extension beside a real signature', forge({ alg: 'HS256', typ: 'JWT', kid: KID, crit: ['exp'] }, c, TEST_SECRET)],
      ['header is an array', forge([] as unknown as Record<string, unknown>, c, TEST_SECRET)],
    ]
    for (const [what, token] of cases) {
      t.equal(await messages(token), 401, `/v1/messages: ${what}`)
      t.equal(await adminAs(token, 'POST', '', CAP), 401, `admin create: ${what}`)
    }
  })

  await t.test('foreign, retired and tricky keys', async (t) => {
    const c = claims('u-mallory', ['finops'])
    const cases: Array<[string, string]> = [
      ['signed by a foreign secret, our kid', forge({ alg: 'HS256', typ: 'JWT', kid: KID }, c, FOREIGN)],
      ['signed by a foreign secret, its own kid', forge({ alg: 'HS256', typ: 'JWT', kid: kidOf(FOREIGN) }, c, FOREIGN)],
      ['signed by a foreign secret, no kid', forge({ alg: 'HS256', typ: 'JWT' }, c, FOREIGN)],
      ['signed by a retired secret, its kid', forge({ alg: 'HS256', typ: 'JWT', kid: kidOf(RETIRED) }, c, RETIRED)],
      ['the retired kid on a token signed by the live secret', forge({ alg: 'HS256', typ: 'JWT', kid: kidOf(RETIRED) }, c, TEST_SECRET)],
      ['unknown kid', forge({ alg: 'HS256', typ: 'JWT', kid: 'ffffffffffffffff' }, c, TEST_SECRET)],
      ['path-like kid', forge({ alg: 'HS256', typ: 'JWT', kid: '../../../../../../dev/null' }, c, '')],
      ['path-like kid, signed by the live secret', forge({ alg: 'HS256', typ: 'JWT', kid: `../${KID}` }, c, TEST_SECRET)],
      ['SQL-like kid', forge({ alg: 'HS256', typ: 'JWT', kid: "x' OR '1'='1" }, c, '')],
      ['empty kid', forge({ alg: 'HS256', typ: 'JWT', kid: '' }, c, TEST_SECRET)],
      ['numeric kid', forge({ alg: 'HS256', typ: 'JWT', kid: 0 }, c, TEST_SECRET)],
      ['kid as an object', forge({ alg: 'HS256', typ: 'JWT', kid: { toString: KID } }, c, TEST_SECRET)],
      ['kid in upper case', forge({ alg: 'HS256', typ: 'JWT', kid: KID.toUpperCase() }, c, TEST_SECRET)],
      ['an empty secret', forge({ alg: 'HS256', typ: 'JWT', kid: KID }, c, '')],
    ]
    for (const [what, token] of cases) {
      t.equal(await messages(token), 401, `/v1/messages: ${what}`)
      t.equal(await adminAs(token, 'GET'), 401, `admin list: ${what}`)
    }
  })

  await t.test('payload and signature tampering', async (t) => {
    const real = bearer('u-dev', ['eng'])
    const [h, p, s] = real.split('.') as [string, string, string]
    const payload = JSON.parse(Buffer.from(p, 'base64url').toString('utf8')) as Record<string, unknown>
    const withPayload = (q: Record<string, unknown>): string => `${h}.${Buffer.from(JSON.stringify(q)).toString('base64url')}.${s}`
    const flip = (seg: string, at: number): string => seg.slice(0, at) + (seg[at] === 'A' ? 'B' : 'A') + seg.slice(at + 1)
    const cases: Array<[string, string]> = [
      ['groups raised to an admin group', withPayload({ ...payload, groups: ['finops'] })],
      ['another subject', withPayload({ ...payload, sub: 'u-fin' })],
      ['lifetime stretched', withPayload({ ...payload, exp: (payload.exp as number) + 86_400 * 365 })],
      ['same claims, JSON re-spaced', `${h}.${Buffer.from(JSON.stringify(payload, null, 1)).toString('base64url')}.${s}`],
      ['a signature byte flipped', `${h}.${p}.${flip(s, 10)}`],
      ['signature truncated', `${h}.${p}.${s.slice(0, 42)}`],
      ['signature extended', `${h}.${p}.${s}AAAA`],
      ['signature empty', `${h}.${p}.`],
      ['signature missing', `${h}.${p}`],
      ['four segments', `${real}.${s}`],
      ['payload of another genuine token', `${h}.${bearer('u-fin', ['finops']).split('.')[1] as string}.${s}`],
      ['payload not JSON', `${h}.${Buffer.from('not json').toString('base64url')}.${s}`],
    ]
    for (const [what, token] of cases) {
      t.equal(await messages(token), 401, `/v1/messages: ${what}`)
      t.equal(await adminAs(token, 'POST', '', CAP), 401, `admin create: ${what}`)
    }
    t.equal(await messages(real), 200, 'the untouched token still works')
  })

  await t.test('time claims: expired, not yet valid, issued in the future, missing', async (t) => {
    const now = Math.floor(Date.now() / 1000)
    const sign = (more: Record<string, unknown>): string => forge({ alg: 'HS256', typ: 'JWT', kid: KID }, claims('u-time', [], more), TEST_SECRET)
    const noExp = claims('u-time')
    delete noExp.exp
    const cases: Array<[string, string]> = [
      ['expired an hour ago', sign({ iat: now - 7200, exp: now - 3600 })],
      ['expired a second ago', sign({ iat: now - 3600, exp: now - 1 })],
      ['nbf an hour ahead', sign({ nbf: now + 3600 })],
      ['nbf not a number', sign({ nbf: 'now' })],
      ['iat a day ahead (would dodge a sign-out cut-off)', sign({ iat: now + 86_400, exp: now + 90_000 })],
      ['no exp', forge({ alg: 'HS256', typ: 'JWT', kid: KID }, noExp, TEST_SECRET)],
      ['exp as a string', sign({ exp: String(now + 3600) })],
      ['wrong audience', sign({ aud: 'someone-else' })],
    ]
    for (const [what, token] of cases) {
      const r = await post(url, token)
      t.equal(r.status, 401, what)
      t.equal(r.json().error?.type, 'authentication_error', `${what}: an Anthropic envelope`)
    }
  })

  await t.test('a re-spelled token is refused even while it is live', async (t) => {
    const real = bearer('u-live')
    t.equal(await messages(real), 200)
    const variants = respellings(real)
    t.ok(variants.length >= 12, `${variants.length} re-spellings`)
    for (const [what, v] of variants) t.equal(await messages(v), 401, what)
  })

  await t.test('sign-out stays signed out: every re-spelling of a revoked bearer, on inference and the admin API', async (t) => {
    // The standard-alphabet re-spelling exists only when the token holds a '-' or '_' (about three
    // in four do): sign in again until one does, so that every kind of re-spelling is tried.
    let token = { access_token: '', refresh_token: '' }
    for (let i = 0; i < 40 && !/[-_]/.test(token.access_token); i++) {
      token = (await signIn(url)).token.json() as { access_token: string, refresh_token: string }
    }
    const tk = token.access_token
    t.equal(await messages(tk), 200, 'the signed-in admin can call the model')
    const kept = await admin(url, 'POST', '', { scope: { type: 'user', user_id: 'u-kept' }, amount: '700', force: true })
    t.equal(kept.status, 200)
    const keptId = kept.json().id as string
    t.equal(await adminAs(tk, 'GET'), 200, 'and the admin API')

    const variants = respellings(tk)
    t.ok(variants.some(([w]) => w.startsWith('signature: spare')), 'the spare-bit variant of the signature is among them')
    t.ok(variants.some(([w]) => w.includes('+/')), 'a standard-alphabet variant is among them')
    for (const [what, v] of variants) t.ok(sameBytes(v, tk), `${what}: decodes to the same bytes`)

    t.equal(await revoke(tk), 200)
    t.ok(await soon(async () => await messages(tk) === 401, 5000), 'the revoked bearer is refused')
    for (const [what, v] of variants) {
      t.equal(await messages(v), 401, `/v1/messages: ${what}`)
      t.equal(await adminAs(v, 'POST', '', CAP), 401, `admin create: ${what}`)
      t.equal(await adminAs(v, 'DELETE', `/${keptId}`), 401, `admin delete: ${what}`)
    }
    const list = (await admin(url, 'GET', '')).json() as { data: Array<{ id: string, scope: { user_id?: string } }> }
    t.ok(list.data.some((l) => l.id === keptId), 'the cap a revoked bearer tried to delete is still there')
    t.notOk(list.data.some((l) => l.scope.user_id === 'u-target'), 'no cap was created by a revoked bearer')

    const ended = await refresh(url, token.refresh_token)
    t.equal(ended.status, 401, 'the refresh grant of the revoked sign-in is refused')
    t.same(ended.json(), { error: 'invalid_grant' })
    t.equal(ended.headers['cache-control'], 'no-store')
  })

  await t.test('sign-out with a re-spelled token revokes the token it stands for', async (t) => {
    const token = (await signIn(url)).token.json() as { access_token: string, refresh_token: string }
    const tk = token.access_token
    t.equal(await messages(tk), 200)
    const s = tk.split('.')
    t.equal(await revoke(`${s[0] as string}.${s[1] as string}.${s[2] as string}=`), 200)
    t.ok(await soon(async () => await messages(tk) === 401, 5000), 'the canonical token is refused')
    t.equal((await refresh(url, token.refresh_token)).status, 401, 'and its refresh token')
  })

  await t.test('revoking any access token of a sign-in ends the whole family, across refreshes', async (t) => {
    const token = (await signIn(url)).token.json() as { access_token: string, refresh_token: string }
    const first = await refresh(url, token.refresh_token)
    t.equal(first.status, 200, 'refresh before sign-out')
    const renewed = first.json() as { access_token: string, refresh_token: string }
    t.equal(await messages(renewed.access_token), 200)
    t.equal(await revoke(renewed.access_token), 200, 'sign out with the refreshed access token')
    t.ok(await soon(async () => await messages(renewed.access_token) === 401, 5000))
    t.equal((await refresh(url, token.refresh_token)).status, 401, 'the refresh token of the original sign-in is refused')
    t.equal((await refresh(url, renewed.refresh_token)).status, 401, 'and the one the refresh handed back')

    // another sign-in of the same person is a different family and keeps working
    const other = (await signIn(url)).token.json() as { access_token: string, refresh_token: string }
    t.equal((await refresh(url, other.refresh_token)).status, 200, 'a separate sign-in is unaffected')
  })
})
