/**
 * The `oidc.groups_jsonpath` subset (lib/auth/jsonpath.ts): what parses, what it selects, how it
 * stays bounded on hostile paths and claims, and how sign-in reads groups through it.
 */
import t from 'tap'
import { create } from 'superstruct'
import { identityFrom, wantsUserinfo } from '../../lib/auth/claims.js'
import { PolicyDenied } from '../../lib/auth/errors.js'
import { MAX_NODES, MAX_PATH_CHARS, MAX_SEGMENTS, evaluateGroupsPath, parseGroupsPath } from '../../lib/auth/jsonpath.js'
import { OidcSchema, type OidcConfig } from '../../lib/config/schema/oidc.js'

const cfg = (o: Record<string, unknown> = {}): OidcConfig =>
  create({ issuer: 'https://idp.example.com', client_id: 'c', client_secret: 's', ...o }, OidcSchema)

function select (doc: unknown, path: string): unknown {
  const p = parseGroupsPath(path)
  if (!p.ok) throw new Error(`${path}: ${p.reason}`)
  return evaluateGroupsPath(doc, p.segments)
}

const entra = {
  sub: 'u1',
  groups: [
    { id: 'g1', type: 'security', displayName: 'eng' },
    { id: 'g2', type: 'distribution', displayName: 'all-staff' },
    { id: 'g3', type: 'security', displayName: 'ops' },
    { id: 'g4', type: 'security' },
    'not-an-object',
  ],
  'odd name': { 'with.dot': ['x', 'y'] },
}

t.test('parse: the accepted forms', async (t) => {
  for (const p of [
    '$.groups', "$['groups']", '$.groups[*]', '$.groups[*].displayName', "$.groups[?@.type=='security'].displayName",
    "$.groups[?@.type == 'security'].displayName", "$.groups[?@.type=='']", "$['odd name']['with.dot'][*]", '$._a1.b_2',
    "$.a[?@.k=='v'][?@.k2=='v2'].n",
  ]) {
    const r = parseGroupsPath(p)
    t.ok(r.ok, p)
  }
  t.same(parseGroupsPath("$.groups[?@.type=='security'].displayName"), {
    ok: true,
    segments: [{ kind: 'member', name: 'groups' }, { kind: 'filter', field: 'type', value: 'security' }, { kind: 'member', name: 'displayName' }],
  })
})

t.test('parse: everything else is refused with a position', async (t) => {
  const bad: Array<[string, number]> = [
    ['', 0], ['groups', 0], ['$', 1], ['$[*]', 1], ["$[?@.a=='b']", 1], ['$..groups', 2], ['$.1abc', 2],
    ['$.groups[0]', 8], ['$.groups[-1:]', 8], ['$.groups[*', 8], ["$['']", 1], ["$['a\\'b']", 1], ["$['a\nb']", 1],
    ["$.g[?@.type!='x']", 3], ["$.g[?@.type=='x'", 3], ['$.g[?@.type=="x"]', 3], ["$.g[?@.type  ==  'x']", 3],
    ["$.g[?(@.type=='x')]", 3], ['$.g.', 4], ['$.g x', 3], ['$.a-b', 3], ['$ .a', 1], ['$.g[?length(@)>1]', 3],
  ]
  for (const [p, at] of bad) {
    const r = parseGroupsPath(p)
    t.equal(r.ok, false, JSON.stringify(p))
    if (!r.ok) t.equal(r.at, at, `${JSON.stringify(p)} fails at ${at} (${r.reason})`)
  }
})

t.test('evaluate: members, wildcards and filters', async (t) => {
  t.same(select(entra, "$.groups[?@.type=='security'].displayName"), ['eng', 'ops'], 'objects without the member drop out')
  t.same(select(entra, '$.groups[*].displayName'), ['eng', 'all-staff', 'ops'])
  t.same(select(entra, "$.groups[?@.type=='none'].displayName"), [], 'a fan-out that matches nothing is an empty list')
  t.equal(select(entra, '$.missing'), undefined)
  t.equal(select(entra, '$.missing[*].x'), undefined, 'a claim missing before the first fan-out is absent, not empty')
  t.same(select({ g: 'str' }, '$.g[*]'), [], 'a fan-out over a primitive selects nothing')
  t.same(select(entra, "$['odd name']['with.dot']"), ['x', 'y'], 'a plain member chain returns the value itself')
  t.same(select({ r: [{ names: ['a', 'b'] }, { names: ['c'] }] }, '$.r[*].names'), ['a', 'b', 'c'], 'selected lists count as their items')
  t.same(select({ r: { a: { n: 'x' }, b: { n: 'y' } } }, '$.r[*].n'), ['x', 'y'], 'wildcards take object values too')
  t.equal(select({ g: ['a'] }, '$.g.length'), undefined, 'arrays have no members')
  t.equal(select({ g: 'str' }, '$.g.length'), undefined, 'strings have no members')
  t.equal(select({}, '$.toString'), undefined, 'no prototype lookups')
  t.same(select({ g: [{ constructor: 'x', n: 'a' }, { n: 'b' }] }, "$.g[?@.constructor=='x'].n"), ['a'], 'filters read own members only')
  t.same(select({ g: [{ t: 1, n: 'a' }, { t: '1', n: 'b' }] }, "$.g[?@.t=='1'].n"), ['b'], 'filters compare strings exactly')
})

t.test('hostile paths and claims stay bounded', async (t) => {
  const long = '$' + '.a'.repeat(MAX_PATH_CHARS)
  const r1 = parseGroupsPath(long)
  t.equal(r1.ok, false, 'an over-long path is refused')
  const many = '$' + '.a'.repeat(MAX_SEGMENTS + 1)
  t.ok(many.length <= MAX_PATH_CHARS)
  const r2 = parseGroupsPath(many)
  t.equal(r2.ok, false, 'too many segments are refused')
  t.ok(parseGroupsPath('$' + '.a'.repeat(MAX_SEGMENTS)).ok, 'exactly the limit is fine')
  // a quadratic-looking pattern cannot backtrack: quoted names and filters are linear
  const evil = "$['" + 'a'.repeat(MAX_PATH_CHARS - 10)
  const t0 = process.hrtime.bigint()
  t.equal(parseGroupsPath(evil).ok, false)
  t.ok(process.hrtime.bigint() - t0 < 1_000_000_000n, 'refused without backtracking blow-up')
  // a wide claim set and a path that fans out repeatedly: the work budget caps it
  const wide: unknown[] = Array.from({ length: 1000 }, () => Array.from({ length: 1000 }, () => 'g'))
  const out = select({ g: wide }, '$.g[*][*]') as unknown[]
  t.ok(Array.isArray(out))
  t.ok(out.length <= MAX_NODES, `at most ${MAX_NODES} nodes selected (got ${out.length})`)
  // deeply nested claims only go as deep as the path
  let deep: unknown = 'leaf'
  for (let i = 0; i < 10_000; i++) deep = { a: deep }
  t.equal(select(deep, '$.a.a.a'), (((deep as { a: { a: { a: unknown } } }).a).a).a)
})

t.test('sign-in reads groups through groups_jsonpath', async (t) => {
  const c = cfg({ groups_jsonpath: "$.groups[?@.type=='security'].displayName", allowed_groups: ['ops'] })
  const id = await identityFrom(c, { ...entra, email: 'a@x.example' }, undefined)
  t.same(id.groups, ['eng', 'ops'])
  await t.rejects(identityFrom(cfg({ groups_jsonpath: "$.groups[?@.type=='distribution'].displayName", allowed_groups: ['ops'] }), entra, undefined), PolicyDenied,
    'allowed_groups applies to what the path selected')
  const plain = await identityFrom(cfg(), { sub: 'u', groups: entra.groups }, undefined)
  t.same(plain.groups, ['not-an-object'], 'without the path, objects in the groups claim are not names')
  // userinfo fills groups only when the id_token's path selects nothing at all
  const fromUserinfo = await identityFrom(cfg({ groups_jsonpath: '$.roles[*].name', userinfo_fallback: true }), { sub: 'u' }, { roles: [{ name: 'r1' }] })
  t.same(fromUserinfo.groups, ['r1'])
  t.equal(wantsUserinfo({ sub: 'u', email: 'a@b', roles: [] }, cfg({ groups_jsonpath: '$.roles[*].name', userinfo_fallback: true })), false,
    'a fan-out that selects nothing still counts as present, like the claim itself')
  t.equal(wantsUserinfo({ sub: 'u', email: 'a@b' }, cfg({ groups_jsonpath: '$.roles[*].name', userinfo_fallback: true })), true)
})
