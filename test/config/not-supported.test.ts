/* eslint-disable no-template-curly-in-string */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { validate } from 'superstruct'
import { parse as parseYamlText, stringify } from 'yaml'
import { BootError } from '../../lib/errors.js'
import { parseConfig } from '../../lib/config/load.js'
import { findRefusals } from '../../lib/config/not-supported.js'
import { ConfigSchema, NOT_SUPPORTED_YET } from '../../lib/config/schema.js'
import { withEnv } from '../../lib/config/schema/urls.js'
import { ROOT } from '../../lib/version.js'

const SECRET = 'a-secret-of-more-than-32-characters-long'
type Obj = Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any

const base = (): Obj => ({
  listen: { host: '127.0.0.1' },
  oidc: { issuer: 'https://idp.example.com', client_id: 'weir', client_secret: 'weir-secret' },
  session: { jwt_secret: SECRET },
  store: { postgres_url: 'postgres://weir@db.example.com/weir' },
  upstreams: [{ provider: 'anthropic', auth: { api_key: 'sk-test' } }],
})

function lines (fn: () => unknown): string[] {
  try { fn() } catch (err) { if (err instanceof BootError) return [...err.lines]; throw err }
  return []
}

t.test('the full example parses with only not-supported-yet refusals', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'weir-full-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const pg = join(dir, 'pg-password')
  writeFileSync(pg, 'pg-pass\n')
  const text = readFileSync(join(ROOT, 'test', 'fixtures', 'config', 'full-example.yaml'), 'utf8').replaceAll('/secrets/pg-password', pg)
  const env = {
    OIDC_CLIENT_SECRET: 'oidc-secret',
    JWT_SECRET_NEW: SECRET + '-new',
    JWT_SECRET_OLD: SECRET + '-old',
    GATEWAY_POSTGRES_URL: 'postgres://gw@db.corp.example/gw?sslmode=require',
    ANTHROPIC_API_KEY: 'sk-ant',
    OTEL_TOKEN: 'otel-token',
    ADMIN_WRITE_KEY: 'w'.repeat(40),
    ADMIN_READ_KEY: 'r'.repeat(40),
  }
  t.same(lines(() => parseConfig(text, 'gateway.yaml', env)), [])
  // and the schema itself accepts the whole file
  const [err, value] = withEnv(env, () => validate(parseYamlWithEnv(text, env), ConfigSchema, { coerce: true }))
  t.equal(err, undefined, 'schema-valid')
  t.equal(value?.store.password, 'pg-pass')
  t.same(value?.upstreams.map(u => u.name), ['bedrock-pt', 'bedrock-od', 'vertex', 'foundry', 'anthropic'])
})

/** Expand ${VAR} / ${file:} the simple way, for feeding the schema directly. */
function parseYamlWithEnv (text: string, env: Record<string, string>): unknown {
  const expanded = text
    .replace(/\$\{file:([^}]+)\}/g, (_m, p: string) => readFileSync(p, 'utf8').trim())
    .replace(/\$\{(\w+)\}/g, (_m, n: string) => env[n] as string)
  return parseYamlText(expanded) as unknown
}

t.test('nothing is refused today; a cri block is a configured feature', async (t) => {
  t.same(NOT_SUPPORTED_YET, [], 'every accepted key is implemented')
  t.same(lines(() => parseConfig(stringify(base()), 'gateway.yaml', {})), [], 'defaults for telemetry, enforcement, models… do not trigger')
  const c = base()
  c.cri = { enabled: false }
  c.telemetry = {}
  t.same(lines(() => parseConfig(stringify(c), 'gateway.yaml', {})), [], 'an inert cri block boots (it only warns)')
})

t.test('errors inside a cri block are reported like any other', async (t) => {
  const c = base()
  c.cri = { enabled: 'yes', audience: [''], colour: 'red' }
  c.listen.port = 'x'
  const got = lines(() => parseConfig(stringify(c), 'gateway.yaml', {}))
  t.ok(got.some(l => l.includes('listen.port')), 'listen.port reported')
  t.ok(got.some(l => l.includes('cri.enabled')), 'cri.enabled reported')
  t.ok(got.some(l => l.includes('cri.colour: unknown key')), 'unknown key inside cri reported')
  t.notOk(got.some(l => l.includes('not supported yet')), 'no refusal')
})

t.test('findRefusals: patterns', async (t) => {
  const data = {
    a: { b: 1, c: { d: 2 } },
    list: [{ kind: 'x', k: 1 }, { kind: 'y', k: 2 }, { kind: 'x' }],
    map: { one: { v: 1 }, two: { w: 2 } },
    skip: undefined,
  }
  const paths = (entries: string[]): string[] => findRefusals(data, entries).map(r => `${r.path.join('.')}|${r.scope.join('.')}|${r.message}`)
  t.same(paths(['a.b']), ['a.b|a.b|not supported yet'])
  t.same(paths(['a.c.d', 'a.zz', 'zz.top']), ['a.c.d|a.c.d|not supported yet'], 'absent keys never match')
  t.same(paths(['list.*.k']), ['list.0.k|list.0.k|not supported yet', 'list.1.k|list.1.k|not supported yet'])
  t.same(paths(['list.1.kind']), ['list.1.kind|list.1.kind|not supported yet'], 'a literal index')
  t.same(paths(['list.*.kind=x']), ['list.0.kind|list.0|not supported yet (x)', 'list.2.kind|list.2|not supported yet (x)'])
  t.same(paths(['list.*.k=*']), ['list.0.k|list.0|not supported yet', 'list.1.k|list.1|not supported yet'])
  t.same(paths(['map.*.v']), ['map.one.v|map.one.v|not supported yet'])
  t.same(paths(['skip']), [], 'undefined values are absent')
  t.same(paths(['a', 'a.b', 'list.*.kind=x', 'list.*.k']), [
    'a|a|not supported yet',
    'list.0.kind|list.0|not supported yet (x)',
    'list.2.kind|list.2|not supported yet (x)',
    'list.1.k|list.1.k|not supported yet',
  ], 'refusals inside another refusal are dropped (outermost first)')
  t.same(findRefusals('not an object', ['a']), [])
})

/**
 * A schema-valid sample for each NOT_SUPPORTED_YET entry: adding it to the base config must give
 * exactly one refusal. Keeps the list honest (every entry is a real, accepted key).
 */
const SAMPLES: Record<string, (c: Obj) => void> = {
  'upstreams.*.headers': c => { c.upstreams[0].headers = { 'x-team': 'platform' } },
  'upstreams.*.groups': c => { c.upstreams[0].groups = ['eng'] },
  'upstreams.*.models': c => { c.upstreams[0].models = ['claude-opus-4-8'] },
  models: c => { c.models = [{ id: 'claude-opus-4-8', upstream_model: { anthropic: 'claude-opus-4-8' } }] },
}

t.test('every NOT_SUPPORTED_YET entry is a schema-valid key, refused on its own', async (t) => {
  for (const entry of NOT_SUPPORTED_YET) {
    const sample = SAMPLES[entry]
    if (sample === undefined) { t.fail(`no sample for ${entry}: add one to SAMPLES`); continue }
    const c = base()
    sample(c)
    const [err] = validate(JSON.parse(JSON.stringify(c)), ConfigSchema, { coerce: true })
    t.equal(err?.failures().map(f => `${f.path.join('.')}: ${f.message}`).join('\n'), undefined, `${entry}: sample is schema-valid`)
    const matched = findRefusals(JSON.parse(JSON.stringify(c)), [entry])
    t.equal(matched.length, 1, `${entry}: the sample has the key once`)
    const got = lines(() => parseConfig(stringify(c), 'gateway.yaml', {}))
    t.ok(got.some(l => l.includes(` ${matched[0]?.path.join('.') ?? '?'}: not supported yet`)), `${entry}: refused`)
    t.ok(got.every(l => / not supported yet( \(\w+\))?$/.test(l)), `${entry}: only not-supported-yet lines`)
  }
})
