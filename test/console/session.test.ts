/**
 * The console session's building blocks with the real sealing code: who gets which role, the
 * cookie names and attributes (the `__Host-` prefix over https), the session's lifetime bounded by
 * both CONSOLE_TTL_S and the minted token's expiry, a session that expires or is altered reading
 * as none, and the CSRF check.
 */
import t from 'tap'
import { parseConfig } from '../../lib/config/load.js'
import { sealKeys } from '../../lib/auth/seal.js'
import type { Req } from '../../lib/http/request.js'
import { CONSOLE_TTL_S, CookieJar, csrfOk, readSession, roleOf, sealSession } from '../../lib/console/session.js'
import type { Principal } from '../../lib/session/token.js'

const keys = sealKeys(['s'.repeat(40)])
const rq = (headers: Record<string, string>): Req => ({ headers } as unknown as Req)
const who = (exp: number): Principal => ({ sub: 'u-1', email: 'a@example.com', name: 'A', groups: ['finops'], iat: Math.floor(Date.now() / 1000), exp })
const yaml = (admin: string): string => `listen: { host: 127.0.0.1, port: 0 }
oidc: { issuer: "https://idp.example.com", client_id: weir, client_secret: weir-secret }
session: { jwt_secret: ${'x'.repeat(40)} }
store: { postgres_url: postgres://x@127.0.0.1/x }
upstreams: [{ provider: mock }]
${admin}`

t.test('roles', async (t) => {
  const { config } = parseConfig(yaml('admin: { admin_groups: [finops], read_only_groups: [auditors] }'), 'gateway.yaml', {})
  t.equal(roleOf(config, ['eng', 'finops']), 'admin')
  t.equal(roleOf(config, ['auditors']), 'read_only')
  t.equal(roleOf(config, ['auditors', 'finops']), 'admin', 'full access wins')
  t.equal(roleOf(config, ['eng']), null)
  t.equal(roleOf(config, []), null)
  t.equal(roleOf(parseConfig(yaml(''), 'gateway.yaml', {}).config, ['finops']), null, 'no admin block, no console')
})

t.test('cookies', async (t) => {
  const https = new CookieJar(true)
  t.equal(https.session, '__Host-weir_console')
  t.equal(https.sessionCookie('v', 60), '__Host-weir_console=v; Max-Age=60; Path=/; HttpOnly; Secure; SameSite=Strict')
  t.equal(https.loginCookie('v'), '__Host-weir_console_login=v; Max-Age=600; Path=/; HttpOnly; Secure; SameSite=Lax')
  const http = new CookieJar(false)
  t.equal(http.session, 'weir_console')
  t.equal(http.clear(http.session, 'Strict'), 'weir_console=; Max-Age=0; Path=/; HttpOnly; Secure; SameSite=Strict')
})

t.test('lifetime, expiry, tampering and CSRF', async (t) => {
  const jar = new CookieJar(false)
  const now = Math.floor(Date.now() / 1000)
  t.equal((await sealSession(keys, who(now + 86_400), 'tok')).maxAge, CONSOLE_TTL_S, 'at most 8 hours')
  const short = await sealSession(keys, who(now + 2), 'tok')
  t.ok(short.maxAge >= 1 && short.maxAge <= 2, 'never past the token\'s expiry')
  const s = await readSession(keys, jar, rq({ cookie: `other=1; weir_console=${short.value}` }))
  t.match(s, { t: 'tok', sub: 'u-1', email: 'a@example.com', groups: ['finops'], c: /^[\w-]{32}$/ })
  t.equal(await readSession(keys, jar, rq({ cookie: `weir_console=${short.value.slice(0, -2)}xx` })), null, 'an altered cookie is no session')
  t.equal(await readSession(sealKeys(['o'.repeat(40)]), jar, rq({ cookie: `weir_console=${short.value}` })), null, 'another gateway\'s secret opens nothing')
  t.equal(await readSession(keys, jar, rq({})), null)
  if (s === null) return
  t.ok(csrfOk(s, rq({ 'x-csrf-token': s.c })))
  t.notOk(csrfOk(s, rq({})))
  t.notOk(csrfOk(s, rq({ 'x-csrf-token': '' })))
  t.notOk(csrfOk(s, rq({ 'x-csrf-token': s.c.slice(1) })))
  await new Promise((resolve) => setTimeout(resolve, 3100))
  t.equal(await readSession(keys, jar, rq({ cookie: `weir_console=${short.value}` })), null, 'an expired session is no session')
})
