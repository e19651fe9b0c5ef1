/**
 * First-hour wording: typo suggestions for unknown gateway.yaml keys, no made-up `.0` index on a
 * one-value `session.jwt_secret`, and Weir's own words (not util.parseArgs's) for bad `weir` flags.
 */
import t, { type Test } from 'tap'
import { editDistance, nearest } from '../../lib/config/messages.js'
import { parseFlags, UsageError } from '../../lib/cli/args.js'
import { runClientSettings } from '../../lib/cli/client-settings.js'
import { BASE_YAML, CONFIG_SECRET, refuse } from '../helpers/config.js'

const SECRET = CONFIG_SECRET
const YAML = BASE_YAML
const problems = (t: Test, text: string): string[] => refuse(t, text)

t.test('edit distance counts a swap of neighbours as one edit', async (t) => {
  t.equal(editDistance('prot', 'port'), 1)
  t.equal(editDistance('apikey', 'api_key'), 1)
  t.equal(editDistance('', 'abc'), 3)
  t.equal(editDistance('kitten', 'sitting'), 3)
  t.equal(nearest('prot', ['host', 'port', 'public_url']), 'port')
  t.equal(nearest('colour', ['listen', 'oidc', 'session']), undefined, 'nothing close: no guess')
  t.equal(nearest('ab', ['xy']), undefined, 'short words need a closer match than their length allows')
})

t.test('an unknown key suggests the nearest key of the same mapping', async (t) => {
  t.same(problems(t, YAML.replace('  port: 8080', '  prot: 8080')), [
    'gateway.yaml:3:3 listen.prot: unknown key; did you mean `listen.port`?',
  ])
  t.same(problems(t, YAML.replace('session:', 'session:\n  ttl_hour: 2')), [
    'gateway.yaml:9:3 session.ttl_hour: unknown key; did you mean `session.ttl_hours`?',
  ])
  t.same(problems(t, YAML + '    base_ulr: https://api.example.com\n'), [
    'gateway.yaml:16:5 upstreams.0.base_ulr: unknown key; did you mean `upstreams.0.base_url`?',
  ], 'inside a provider-specific upstream shape')
  t.same(problems(t, YAML + 'acess_control: {}\n'), [
    'gateway.yaml:16:1 acess_control: unknown key; did you mean `access_control`?',
  ], 'at the top level')
  t.same(problems(t, YAML + 'colour: blue\n'), ['gateway.yaml:16:1 colour: unknown key'], 'no guess when nothing is close')
})

t.test('a one-value jwt_secret is named without a list index', async (t) => {
  t.same(problems(t, YAML.replace(`jwt_secret: ${SECRET}`, 'jwt_secret: too-short')), [
    'gateway.yaml:9:15 session.jwt_secret: Expected a string of at least 32 characters',
  ])
  t.same(problems(t, YAML.replace(`jwt_secret: ${SECRET}`, `jwt_secret: [${SECRET}, short]`)), [
    'gateway.yaml:9:58 session.jwt_secret.1: Expected a string of at least 32 characters',
  ], 'a real list keeps its indexes')
  t.same(problems(t, YAML.replace(`jwt_secret: ${SECRET}`, 'jwt_secret: [short]')), [
    'gateway.yaml:9:16 session.jwt_secret.0: Expected a string of at least 32 characters',
  ], 'even a one-element list')
})

t.test('flag errors are worded by Weir, not util.parseArgs', async (t) => {
  const opts = { port: { type: 'string' as const }, user: { type: 'string' as const }, verbose: { type: 'boolean' as const } }
  const message = (argv: string[], positionals = true): string => {
    try {
      parseFlags(argv, opts, positionals)
    } catch (err) {
      if (err instanceof UsageError) return err.message
      throw err
    }
    return 'accepted'
  }
  t.equal(message(['--prot', '8080']), 'unknown flag --prot (did you mean --port?)')
  t.equal(message(['--frobnicate']), 'unknown flag --frobnicate')
  t.equal(message(['-x']), 'unknown flag -x')
  t.equal(message(['--port']), '--port needs a value')
  t.equal(message(['--port', '--user', 'me']), "--port needs a value, but the next argument is '--user' (write --port=--user if that is the value)")
  t.equal(message(['--verbose=yes']), '--verbose takes no value')
  t.equal(message(['stray'], false), "unexpected argument 'stray' (this command takes flags only)")
  t.equal(message(['--port=--odd', '--user', 'me', '-h', 'pos']), 'accepted')
  for (const argv of [['--bogus'], ['--port'], ['--port', '--user'], ['--verbose=1'], ['-x']]) {
    const m = message(argv)
    t.notMatch(m, /To specify a positional|Option '|ERR_PARSE_ARGS|argument missing/, `${argv.join(' ')}: no parseArgs text`)
    t.equal((m.match(/'/g) ?? []).length % 2, 0, `${argv.join(' ')}: quotes are balanced`)
  }
  const r = parseFlags(['--port=1', '--user', 'me', 'pos'], opts)
  t.same({ port: r.values.port, user: r.values.user, positionals: r.positionals }, { port: '1', user: 'me', positionals: ['pos'] })
})

t.test('weir client-settings uses the same flag wording', async (t) => {
  let err = ''
  const code = await runClientSettings(['--url', 'https://gw.example.com', '--ulr', 'x'], { stdout: () => {}, stderr: (s) => { err += s } })
  t.equal(code, 64)
  t.match(err, /^weir client-settings: unknown flag --ulr \(did you mean --url\?\)/)
})
