/* eslint-disable no-template-curly-in-string -- ${...} is the syntax under test */
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { LineCounter, parseDocument } from 'yaml'
import { BootError } from '../../lib/errors.js'
import { expandString, interpolateDocument } from '../../lib/config/interpolate.js'
import { parseConfig } from '../../lib/config/load.js'

const SECRET = 'a-secret-of-more-than-32-characters-long'

/** A valid config whose lines 8-9 are the session block (tests substitute the jwt_secret line). */
const yaml = (jwtLine = `  jwt_secret: ${SECRET}`, extra = ''): string => `listen:
  host: 127.0.0.1
  port: \${PORT}
oidc:
  issuer: https://idp.example.com
  client_id: weir
  client_secret: \${OIDC_SECRET}
session:
${jwtLine}
store:
  postgres_url: postgres://weir@db.example.com/weir
upstreams:
  - provider: anthropic
    auth:
      api_key: "\${ANTHROPIC_API_KEY}"
${extra}`

const ENV = { PORT: '8080', OIDC_SECRET: 'oidc-secret', ANTHROPIC_API_KEY: 'sk-ant-test' }

function lines (fn: () => unknown): string[] {
  try { fn() } catch (err) { if (err instanceof BootError) return [...err.lines]; throw err }
  return []
}

const dir = mkdtempSync(join(tmpdir(), 'weir-interp-'))
t.teardown(() => rmSync(dir, { recursive: true, force: true }))

t.test('expandString rules', async (t) => {
  const env = { A: 'alpha', B: '', NUM: '42' }
  t.same(expandString('plain', env), { ok: true, value: 'plain' })
  t.same(expandString('${A}', env), { ok: true, value: 'alpha' })
  t.same(expandString('x-${A}-${A}-${NUM}', env), { ok: true, value: 'x-alpha-alpha-42' }, 'several occurrences')
  t.same(expandString('[${B}]', env), { ok: true, value: '[]' }, 'an empty variable is defined')
  t.same(expandString('${A:-fallback} $A ${ A } ${}', env), { ok: true, value: '${A:-fallback} $A ${ A } ${}' }, 'other forms stay verbatim')
  t.same(expandString('${MISSING} and ${ALSO_MISSING} and ${MISSING}', env), {
    ok: false, errors: ['undefined environment variable MISSING', 'undefined environment variable ALSO_MISSING'],
  })
  const file = join(dir, 'secret.txt')
  writeFileSync(file, '\n  s3cr3t value \n\n')
  t.same(expandString(`\${file:${file}}`, env), { ok: true, value: 's3cr3t value' }, 'contents trimmed')
  t.same(expandString('${file:relative/secret.txt}', env), { ok: false, errors: ['${file:} path must be absolute: relative/secret.txt'] })
  t.same(expandString(`\${file:${join(dir, 'nope')}}`, env), { ok: false, errors: [`cannot read \${file:${join(dir, 'nope')}}: no such file`] })
  t.same(expandString(`\${file:${dir}}`, env), { ok: false, errors: [`cannot read \${file:${dir}}: it is a directory`] })
  t.same(expandString(`Bearer \${file:${file}}`, env), { ok: true, value: `Bearer \${file:${file}}` }, 'embedded ${file:} is left literally')
  t.same(expandString(`\${file:${file}} \${A}`, env), { ok: true, value: `\${file:${file}} alpha` }, 'not whole: only ${NAME} expands')
  const fail = (code: string) => () => { throw Object.assign(new Error('x'), { code }) }
  t.same(expandString('${file:/x}', env, fail('EACCES')), { ok: false, errors: ['cannot read ${file:/x}: permission denied'] })
  t.same(expandString('${file:/x}', env, fail('EIO')), { ok: false, errors: ['cannot read ${file:/x}: EIO'] })
  t.same(expandString('${file:/x}', env, () => { throw new Error('no code') }), { ok: false, errors: ['cannot read ${file:/x}: read failed'] })
})

t.test('expansion through the loader', async (t) => {
  const c = parseConfig(yaml(), 'gateway.yaml', ENV).config
  t.equal(c.listen.port, 8080, 'a number from ${PORT} is coerced')
  t.equal(c.oidc?.client_secret, 'oidc-secret')
  t.same(c.upstreams[0], { provider: 'anthropic', name: 'anthropic', base_url: 'https://api.anthropic.com', auth: { api_key: 'sk-ant-test' } })
})

t.test('an unset variable names the variable, key and line', async (t) => {
  t.same(lines(() => parseConfig(yaml(), 'gateway.yaml', { PORT: '1' })), [
    'gateway.yaml:7:18 oidc.client_secret: undefined environment variable OIDC_SECRET',
    'gateway.yaml:15:16 upstreams.0.auth.api_key: undefined environment variable ANTHROPIC_API_KEY',
  ])
  t.same(lines(() => parseConfig(yaml('  jwt_secret: ["${JWT_NEW}", "${JWT_OLD}"]'), 'gateway.yaml', ENV)), [
    'gateway.yaml:9:16 session.jwt_secret.0: undefined environment variable JWT_NEW',
    'gateway.yaml:9:30 session.jwt_secret.1: undefined environment variable JWT_OLD',
  ])
  t.same(lines(() => parseConfig(yaml('  jwt_secret: ${JWT}', 'colour: blue\n').replace('8080', '${PORT}'), 'gateway.yaml', { OIDC_SECRET: 's', ANTHROPIC_API_KEY: 'k' })), [
    'gateway.yaml:3:9 listen.port: undefined environment variable PORT',
    'gateway.yaml:9:15 session.jwt_secret: undefined environment variable JWT',
    'gateway.yaml:16:1 colour: unknown key',
  ], 'other problems are reported alongside; nothing more about the unexpanded values')
})

t.test('${file:} through the loader', async (t) => {
  const file = join(dir, 'jwt')
  writeFileSync(file, SECRET + '\n')
  const c = parseConfig(yaml(`  jwt_secret: \${file:${file}}`), 'gateway.yaml', ENV).config
  t.same(c.session.jwt_secret, [SECRET])
  t.same(lines(() => parseConfig(yaml('  jwt_secret: ${file:secrets/jwt}'), 'gateway.yaml', ENV)), [
    'gateway.yaml:9:15 session.jwt_secret: ${file:} path must be absolute: secrets/jwt',
  ])
  const c2 = parseConfig(yaml(undefined, `    base_url: https://proxy.example.com/\${file:${file}}\n`), 'gateway.yaml', ENV).config
  t.match(c2.upstreams[0], { base_url: `https://proxy.example.com/\${file:${file}}` }, 'embedded ${file:} left literally')
})

t.test('a secret containing YAML syntax stays one string', async (t) => {
  const nasty = 'x: y\n- injected\n  listen: {port: 1}\n# comment " \' & *alias !tag {a: b}, [c]'
  const secret = nasty + '-'.repeat(32)
  const c = parseConfig(yaml('  jwt_secret: ${JWT}'), 'gateway.yaml', { ...ENV, JWT: secret }).config
  t.same(c.session.jwt_secret, [secret])
  t.equal(c.listen.port, 8080, 'nothing injected')
  const file = join(dir, 'nasty')
  writeFileSync(file, secret)
  t.same(parseConfig(yaml(`  jwt_secret: \${file:${file}}`), 'gateway.yaml', ENV).config.session.jwt_secret, [secret.trim()])
})

t.test('values that are not strings, and keys, are left alone', async (t) => {
  const doc = parseDocument('${KEY}: ${VAL}\nn: 5\nb: true\nz: null\nlist: ["${VAL}", 2]\n', { lineCounter: new LineCounter() })
  t.same(interpolateDocument(doc, new LineCounter(), { VAL: 'v' }), [])
  t.same(doc.toJS(), { '${KEY}': 'v', n: 5, b: true, z: null, list: ['v', 2] })
})

t.test('a boolean from a variable is a string and fails', async (t) => {
  t.same(lines(() => parseConfig(yaml(undefined, 'auto_include_builtin_models: ${FLAG}\n'), 'gateway.yaml', { ...ENV, FLAG: 'false' })), [
    'gateway.yaml:16:30 auto_include_builtin_models: Expected true or false, but received: "false"',
  ])
})

t.test('an unreadable ${file:} target is reported, not thrown', { skip: process.getuid?.() === 0 ? 'root reads any file' : false }, async (t) => {
  const file = join(dir, 'locked')
  writeFileSync(file, 'x')
  chmodSync(file, 0o000)
  t.match(lines(() => parseConfig(yaml(`  jwt_secret: \${file:${file}}`), 'gateway.yaml', ENV)), [/permission denied/])
})
