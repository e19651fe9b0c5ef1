/**
 * Claim mapping and identity checks (lib/auth/claims.ts), the sealed blobs (lib/auth/seal.ts) and
 * the device-flow codes (lib/auth/codes.ts).
 */
import t from 'tap'
import { create } from 'superstruct'
import { claimAt, firstClaim, groupsFrom, identityFrom, wantsUserinfo } from '../../lib/auth/claims.js'
import { grantKey, newDeviceCode, newUserCode, normaliseUserCode, plausibleUserCode, USER_CODE_ALPHABET, userCodeKey } from '../../lib/auth/codes.js'
import { IdpUnavailable, PolicyDenied } from '../../lib/auth/errors.js'
import { seal, sealKeys, unseal } from '../../lib/auth/seal.js'
import { OidcSchema, type OidcConfig } from '../../lib/config/schema/oidc.js'

const cfg = (o: Record<string, unknown> = {}): OidcConfig =>
  create({ issuer: 'https://idp.example.com', client_id: 'c', client_secret: 's', ...o }, OidcSchema)

t.test('claimAt, firstClaim, groupsFrom', async (t) => {
  const c = { email: 'a@x', 'a/b': 1, 'm~n': 2, realm_access: { roles: ['r1'] }, list: [{ x: 'first' }], nul: null }
  t.equal(claimAt(c, 'email'), 'a@x')
  t.same(claimAt(c, '/realm_access/roles'), ['r1'])
  t.equal(claimAt(c, '/a~1b'), 1, '~1 is a slash')
  t.equal(claimAt(c, '/m~0n'), 2, '~0 is a tilde')
  t.equal(claimAt(c, '/list/0/x'), 'first')
  t.equal(claimAt(c, '/list/01/x'), undefined)
  t.equal(claimAt(c, '/realm_access/nope/deeper'), undefined)
  t.equal(claimAt(c, '/toString'), undefined, 'no prototype lookups')
  t.equal(firstClaim(c, ['nul', 'missing', 'email']), 'a@x', 'null and missing are skipped')
  t.equal(firstClaim(c, 'missing'), undefined)
  t.same(groupsFrom('one'), ['one'])
  t.same(groupsFrom(['a', '', 3, 'b']), ['a', 'b'])
  t.equal(groupsFrom([]), undefined)
  t.equal(groupsFrom(''), undefined)
  t.equal(groupsFrom({ a: 1 }), undefined)
})

t.test('identityFrom: checks and mapping', async (t) => {
  const id = { sub: 's1', email: 'Ann@Example.COM', email_verified: true, name: 'Ann', groups: ['eng'] }
  t.same(await identityFrom(cfg(), id, undefined), { sub: 's1', email: 'Ann@Example.COM', name: 'Ann', groups: ['eng'] })
  t.same(await identityFrom(cfg({ allowed_email_domains: ['example.com'] }), id, undefined).then((x) => x.sub), 's1', 'domains compare lower-cased')
  await t.rejects(identityFrom(cfg(), { ...id, email_verified: false }, undefined), PolicyDenied)
  await t.rejects(identityFrom(cfg(), { ...id, email_verified: 'no' }, undefined), /not verified/)
  t.ok(await identityFrom(cfg(), { ...id, email_verified: 'true' }, undefined), '"true" as a string is fine')
  await t.rejects(identityFrom(cfg(), { sub: 's1', email: 'a@b.c' }, { sub: 's1', email_verified: false }), /not verified/, 'userinfo email_verified counts when the id_token has none')
  await t.rejects(identityFrom(cfg({ allowed_email_domains: ['corp.example'] }), id, undefined), /domain not allowed/)
  await t.rejects(identityFrom(cfg({ allowed_email_domains: ['corp.example'] }), { sub: 's1' }, undefined), /missing email/)
  await t.rejects(identityFrom(cfg({ allowed_email_domains: ['x.example'] }), { ...id, email: 'a@evil.example@x.example.attacker' }, undefined), /domain not allowed/)
  t.same((await identityFrom(cfg(), { sub: 's1' }, undefined)).email, undefined, 'no domain rule: a missing email is fine')
  await t.rejects(identityFrom(cfg(), { email: 'a@b.c' }, undefined), /missing required `sub`/)
  await t.rejects(identityFrom(cfg({ allowed_groups: ['ops'] }), id, undefined), /not a member/)
  await t.rejects(identityFrom(cfg({ allowed_groups: ['ENG'] }), id, undefined), /not a member/, 'case-sensitive')
  t.equal((await identityFrom(cfg({ user_id_claim: '/ext/oid' }), { ...id, ext: { oid: 'o-1' } }, undefined)).sub, 'o-1')
  await t.rejects(identityFrom(cfg({ user_id_claim: 'oid' }), id, undefined), IdpUnavailable)
  // groups from userinfo only when the id_token has no groups claim at all
  t.same((await identityFrom(cfg(), { sub: 's1' }, { sub: 's1', groups: 'solo', email: 'u@x.y', name: 'U' })), { sub: 's1', email: 'u@x.y', name: 'U', groups: ['solo'] })
  t.same((await identityFrom(cfg(), { sub: 's1', groups: [] }, { sub: 's1', groups: ['x'] })).groups, undefined, 'the id_token is authoritative')
  // Google Directory groups replace the claim
  const lookups: string[] = []
  const dir = async (e: string): Promise<string[]> => { lookups.push(e); return ['g@example.com'] }
  const gcfg = cfg({ google_groups: { service_account_json_path: '/x', admin_email: 'admin@example.com' } })
  t.same((await identityFrom(gcfg, id, undefined, dir)).groups, ['g@example.com'])
  t.same(lookups, ['Ann@Example.COM'])
  await t.rejects(identityFrom(gcfg, { sub: 's1' }, undefined, dir), /google_groups is configured but/)
})

t.test('wantsUserinfo', async (t) => {
  t.notOk(wantsUserinfo({ sub: 's' }, cfg()), 'off unless configured')
  t.ok(wantsUserinfo({ sub: 's' }, cfg({ userinfo_fallback: true })))
  t.ok(wantsUserinfo({ sub: 's', email: 'e' }, cfg({ userinfo_fallback: true })), 'groups missing')
  t.notOk(wantsUserinfo({ sub: 's', email: 'e', groups: [] }, cfg({ userinfo_fallback: true })), 'both present (even empty groups)')
  t.notOk(wantsUserinfo({ sub: 's', email: 'e' }, cfg({ userinfo_fallback: true, google_groups: { service_account_json_path: '/x', admin_email: 'a@b.co' } })))
})

t.test('sealed blobs: round trip, kinds, rotation, tampering, expiry', async (t) => {
  const A = 'a-secret-that-is-at-least-32-characters-long'
  const B = 'b-secret-that-is-at-least-32-characters-long'
  const blob = await seal(sealKeys([A]), 'oauth_state', { g: 'device:dc:x', n: 'nonce' }, 60)
  t.match(blob, /^[\w-]+\.\.[\w-]+\.[\w-]+\.[\w-]+$/, 'a compact JWE with direct encryption')
  t.match(await unseal(sealKeys([A]), 'oauth_state', blob), { g: 'device:dc:x', n: 'nonce', kind: 'oauth_state' })
  t.equal(await unseal(sealKeys([A]), 'device_grant', blob), null, 'another kind')
  t.match(await unseal(sealKeys([B, A]), 'oauth_state', blob), { g: 'device:dc:x' }, 'still opens after rotation')
  t.equal(await unseal(sealKeys([B]), 'oauth_state', blob), null, 'unknown key')
  const parts = blob.split('.')
  parts[3] = (parts[3] as string).replace(/^./, (c) => c === 'A' ? 'B' : 'A')
  t.equal(await unseal(sealKeys([A]), 'oauth_state', parts.join('.')), null, 'tampered')
  t.equal(await unseal(sealKeys([A]), 'oauth_state', 'junk'), null)
  const old = await seal(sealKeys([A]), 'oauth_state', {}, 1)
  await new Promise((resolve) => setTimeout(resolve, 2100))
  t.equal(await unseal(sealKeys([A]), 'oauth_state', old), null, 'expired')
})

t.test('codes', async (t) => {
  t.equal(USER_CODE_ALPHABET.length, 20)
  t.notMatch(USER_CODE_ALPHABET, /[AEIOU0-9]/)
  const seen = new Set<string>()
  const bad: string[] = []
  for (let i = 0; i < 2000; i++) {
    const c = newUserCode()
    if (!/^[BCDFGHJKMNPQRSTVWXYZ]{4}-[BCDFGHJKMNPQRSTVWXYZ]{4}$/.test(c)) bad.push(c)
    for (const ch of c.replace('-', '')) seen.add(ch)
  }
  t.same(bad, [], 'every user code is XXXX-XXXX from the alphabet')
  t.equal(seen.size, 20, 'every letter of the alphabet shows up')
  t.match(newDeviceCode(), /^[A-Za-z0-9_-]{43}$/)
  t.equal(normaliseUserCode(' wdjb mjht '), 'WDJBMJHT')
  t.ok(plausibleUserCode('WDJBMJHT'))
  t.notOk(plausibleUserCode('WDJBMJH'))
  t.notOk(plausibleUserCode('WDJBMJHA'), 'vowel')
  t.equal(userCodeKey('wdjb-mjht'), 'device:uc:WDJBMJHT')
  t.match(grantKey('x'), /^device:dc:[0-9a-f]{64}$/)
  t.notMatch(grantKey('secret-code'), /secret-code/)
})
