/**
 * The managed-settings checksum must equal what Claude Code computes from the settings it holds
 * (keys sorted at every depth, JSON.stringify, SHA-256), or every hourly poll would miss the 304
 * and every hint header would look like a stale machine.
 */
import { createHash } from 'node:crypto'
import t from 'tap'
import { canonicalJson, settingsChecksum, sortKeysDeep } from '../../lib/policy/checksum.js'

/**
 * A settings document and the checksum the reference gateway 2.1.328 served for it (observed
 * over HTTP; the same value its clients send back in If-None-Match). Unicode included: accents,
 * a check mark, U+2028 and a `</script>` that JSON.stringify leaves alone.
 */
const OBSERVED = {
  settings: JSON.parse('{"availableModels":["haiku","claude-sonnet-4-6"],"permissions":{"deny":["Read(./.env)","WebFetch"],"ask":["Bash(git push)"],"allow":["Bash(ls)"],"defaultMode":"default"},"env":{"DISABLE_UPDATES":"1","TEAM":"contractors","UNI":"h\u00e9llo \u2713 \u2028 </script>"},"hooks":{"PreToolUse":[{"matcher":"Edit","hooks":[{"type":"command","command":"echo b"}]},{"matcher":"Bash","hooks":[{"type":"command","command":"echo c"}]}],"Stop":[{"hooks":[{"type":"command","command":"echo s"}]}]},"disabledMcpjsonServers":["b","c","a"],"companyAnnouncements":["hi"],"sandbox":{"network":{"allowedDomains":["example.com"]}}}') as unknown,
  checksum: 'sha256:b7e74d189672f5eb5ba8dfddf9ad81ba456f202dc6696f3e7569bcea29deacc7',
}

/** The client's algorithm, written independently as a test oracle. */
function clientChecksum (settings: unknown): string {
  const sort = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(sort)
    if (v !== null && typeof v === 'object') {
      const o: Record<string, unknown> = {}
      for (const k of Object.keys(v).sort()) o[k] = sort((v as Record<string, unknown>)[k])
      return o
    }
    return v
  }
  return 'sha256:' + createHash('sha256').update(JSON.stringify(sort(settings))).digest('hex')
}

t.test('matches the checksum observed from the reference gateway, unicode included', async (t) => {
  t.equal(settingsChecksum(OBSERVED.settings), OBSERVED.checksum)
  t.equal(clientChecksum(OBSERVED.settings), OBSERVED.checksum, 'the oracle agrees')
})

t.test('keys are sorted at every depth, arrays keep their order, no whitespace', async (t) => {
  const doc = { z: { b: 1, a: [{ y: 1, x: 2 }, 'k'] }, a: true, m: null }
  t.equal(canonicalJson(doc), '{"a":true,"m":null,"z":{"a":[{"x":2,"y":1},"k"],"b":1}}')
  t.equal(settingsChecksum(doc), clientChecksum(doc))
  t.equal(settingsChecksum({ b: 1, a: 2 }), settingsChecksum({ a: 2, b: 1 }), 'insertion order does not matter')
  t.not(settingsChecksum({ a: [1, 2] }), settingsChecksum({ a: [2, 1] }), 'array order does')
  t.equal(settingsChecksum({}), 'sha256:' + createHash('sha256').update('{}').digest('hex'), 'an empty policy hashes "{}"')
})

t.test('unicode: non-ASCII stays raw UTF-8, lone surrogates and controls are escaped as JSON.stringify does', async (t) => {
  const cases: unknown[] = [
    { env: { GREETING: 'grüße 日本語 😀' } },
    { env: { A: '\u2028\u2029', B: 'tab\there', C: 'nul\u0000', D: 'quote" back\\slash' } },
    { env: { LONE: '\ud800x' } },
    { 'ключ': 1, 'Z': 2, 'a': 3, 'é': 4, '😀': 5, 'ﬀ': 6 },
  ]
  cases.forEach((c, i) => { t.equal(settingsChecksum(c), clientChecksum(c), `case ${i}`) })
  t.equal(canonicalJson({ env: { LONE: '\ud800' } }), '{"env":{"LONE":"\\ud800"}}')
  t.equal(canonicalJson({ 'é': 1, 'Z': 2, 'a': 3 }), '{"Z":2,"a":3,"é":1}', 'UTF-16 code unit order')
})

t.test('integer-like keys come out the way a rebuilt object orders them (as in the client)', async (t) => {
  const doc = { 10: 'x', 2: 'y', a: 'z' }
  t.equal(canonicalJson(doc), '{"2":"y","10":"x","a":"z"}')
  t.equal(settingsChecksum(doc), clientChecksum(doc))
})

t.test('sortKeysDeep copies and leaves the input alone', async (t) => {
  const doc = { b: { d: 1, c: 2 }, a: 1 }
  const out = sortKeysDeep(doc) as Record<string, unknown>
  t.same(Object.keys(out), ['a', 'b'])
  t.same(Object.keys(doc), ['b', 'a'])
  t.equal(sortKeysDeep(5), 5)
  t.equal(canonicalJson(undefined), 'null')
})
