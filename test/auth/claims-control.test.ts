/**
 * Control characters in identity claims (lib/auth/claims.ts `checkedIdentity`): an IdP that sends
 * CR/LF, NUL, DEL, C1 controls, line separators or bidi overrides in an email, sub, name or group
 * gets no session — refused in identityFrom, and end to end at sign-in (the CLI is told
 * `access_denied`) and at refresh (`invalid_grant`).
 */
import t from 'tap'
import { create } from 'superstruct'
import { identityFrom } from '../../lib/auth/claims.js'
import { PolicyDenied } from '../../lib/auth/errors.js'
import { OidcSchema, type OidcConfig } from '../../lib/config/schema/oidc.js'
import type { DevUser } from '../../lib/dev/idp.js'
import { startTestGateway } from '../helpers/gateway.js'
import { refresh, signIn } from './helpers/flow.js'

const cfg = (o: Record<string, unknown> = {}): OidcConfig =>
  create({ issuer: 'https://idp.example.com', client_id: 'c', client_secret: 's', ...o }, OidcSchema)

const BAD = ['\r\n', '\n', '\r', '\u0000', '\t', '\u001b', '\u007f', '\u0085', '\u009b', '\u2028', '\u2029', '\u202e', '\u202a', '\u2066', '\u2069']

t.test('identityFrom refuses control characters in every claim it takes', async (t) => {
  const good = { sub: 's1', email: 'ann@example.com', email_verified: true, name: 'Ann', groups: ['eng'] }
  t.same(await identityFrom(cfg(), good, undefined), { sub: 's1', email: 'ann@example.com', name: 'Ann', groups: ['eng'] })
  for (const c of BAD) {
    const cp = `U+${(c.codePointAt(0) as number).toString(16).toUpperCase().padStart(4, '0')}`
    await t.rejects(identityFrom(cfg(), { ...good, email: `ann@example.com${c}Bcc: x@evil.example` }, undefined),
      { name: 'PolicyDenied', message: `identity claim email contains control character ${cp}` }, `email with ${cp}`)
    await t.rejects(identityFrom(cfg(), { ...good, sub: `s1${c}` }, undefined), PolicyDenied, `sub with ${cp}`)
    await t.rejects(identityFrom(cfg(), { ...good, name: `Ann${c}` }, undefined), PolicyDenied, `name with ${cp}`)
    await t.rejects(identityFrom(cfg(), { ...good, groups: ['eng', `admins${c}`] }, undefined), PolicyDenied, `group with ${cp}`)
    await t.rejects(identityFrom(cfg(), { ...good, groups: `admins${c}` }, undefined), PolicyDenied, `string group with ${cp}`)
    await t.rejects(identityFrom(cfg({ user_id_claim: 'oid' }), { ...good, oid: `o${c}1` }, undefined), PolicyDenied, `user_id_claim with ${cp}`)
    await t.rejects(identityFrom(cfg({ email_claim: 'upn' }), { ...good, upn: `a${c}@example.com` }, undefined), PolicyDenied, `email_claim with ${cp}`)
    await t.rejects(identityFrom(cfg(), { sub: 's1', email_verified: true }, { sub: 's1', email: `a${c}@example.com`, name: 'x', groups: ['g'] }), PolicyDenied, `userinfo email with ${cp}`)
  }
  await t.rejects(identityFrom(cfg(), { ...good, email: 'ann\u200e@example.com' }, undefined), PolicyDenied, 'an invisible direction mark in an identifier')
  const intl = await identityFrom(cfg(), { ...good, name: 'José \u200fعلي\u200f Müller', email: 'jose@exämple.com', groups: ['équipe'] }, undefined)
  t.equal(intl.name, 'José \u200fعلي\u200f Müller', 'letters of any script, and direction marks in a display name, are fine')
  const denied = await identityFrom(cfg(), { ...good, email: 'a@example.com\r\n' }, undefined).catch((e: unknown) => e as PolicyDenied)
  t.match((denied as PolicyDenied).userMessage, /control characters/, 'the person is told why')
})

t.test('end to end: no session for a CR/LF email or a bidi-override group, at sign-in or refresh', async (t) => {
  const users: DevUser[] = [
    { sub: 'u-ok', email: 'ok@example.com', name: 'Ok', groups: ['eng'] },
    { sub: 'u-crlf', email: 'crlf@example.com\r\nX-Injected: 1', name: 'Crlf', groups: ['eng'] },
    { sub: 'u-bidi', email: 'bidi@example.com', name: 'Bidi', groups: ['eng\u202enimda'] },
    { sub: 'u-nel', email: 'nel@example.com', name: 'Nel\u0085Line', groups: ['eng'] },
  ]
  const g = await startTestGateway(t, { users })
  for (const u of users.slice(1)) {
    g.idp.setUser(u.email)
    const r = await signIn(g.url)
    t.equal(r.page.status, 403, `${u.sub}: refused at the callback`)
    t.match(r.page.text, /control characters/)
    t.same(r.token.json(), { error: 'access_denied' }, `${u.sub}: the CLI is told access_denied`)
  }
  g.idp.setUser('ok@example.com')
  const ok = await signIn(g.url)
  t.equal(ok.token.status, 200)
  const rt = ok.token.json().refresh_token as string
  g.idp.upsertUser({ sub: 'u-ok', email: 'ok@example.com\n', name: 'Ok', groups: ['eng'] })
  const r = await refresh(g.url, rt)
  t.equal(r.status, 401, 'the IdP now sends a control character: refresh refused')
  t.same(r.json(), { error: 'invalid_grant' })
})
