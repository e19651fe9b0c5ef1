import t from 'tap'
import { ScanError, rewriteBody, scanRequest } from '../../lib/proxy/json-scan.js'

const b = (s: string): Buffer => Buffer.from(s)

t.test('reads top-level model, max_tokens, stream and tags; skips everything else', async (t) => {
  const body = b(JSON.stringify({
    messages: [{ role: 'user', content: [{ type: 'text', text: 'a "quoted" } ] , "model": "fake" \\ text' }] }],
    system: [{ type: 'text', text: '{"model":"nested"}' }],
    model: 'claude-opus-4-8',
    tools: [{ name: 't', input_schema: { type: 'object', properties: { model: { type: 'string' } } } }],
    max_tokens: 32000,
    stream: true,
    tags: { team: 'eng' },
    metadata: { user_id: 'x' },
  }))
  const s = scanRequest(body)
  t.equal(s.model, 'claude-opus-4-8', 'nested "model" keys and strings are not confused with the top-level one')
  t.equal(s.maxTokens, 32000)
  t.equal(s.stream, true)
  t.same(s.tags?.value, { team: 'eng' })
  t.equal(body.toString('utf8', s.modelRange?.start, s.modelRange?.end), '"claude-opus-4-8"')
})

t.test('odd but valid JSON', async (t) => {
  t.equal(scanRequest(b('  {\n "model" :\t"m" , "x":[[],{}],"y":-1.5e3,"z":null,"w":false}\n ')).model, 'm')
  t.equal(scanRequest(b('{"mod\\u0065l":"escaped-key"}')).model, 'escaped-key', 'escaped key names are decoded')
  t.equal(scanRequest(b('{"model":"caf\\u00e9"}')).model, 'café')
  t.equal(scanRequest(b('{}')).model, undefined)
  t.equal(scanRequest(b('{"model":null}')).model, null)
  t.equal(scanRequest(b('{"model":7}')).model, null)
  t.equal(scanRequest(b('{"max_tokens":"5"}')).maxTokens, undefined)
})

t.test('malformed bodies and duplicate fields are refused', async (t) => {
  for (const bad of ['', '[]', '"x"', '{', '{"model":"x"', '{"model" "x"}', '{"a":"unterminated}', '{"a":[1,2}', '{"a":1}}', '{"a":1} x', '{"model":"a","model":"b"}', '{"model":"a","mod\\u0065l":"b"}', '{"tags":{},"tags":{}}', '{"a":}']) {
    t.throws(() => scanRequest(b(bad)), ScanError, JSON.stringify(bad))
  }
})

t.test('every split of a body scans the same (no position bugs)', async (t) => {
  const text = JSON.stringify({ model: 'claude-haiku-4-5', messages: [{ role: 'user', content: 'x\\"y' }], max_tokens: 5 })
  for (let pad = 0; pad < 20; pad++) {
    const s = scanRequest(b(' '.repeat(pad) + text + ' '.repeat(pad)))
    t.equal(s.model, 'claude-haiku-4-5')
    t.equal(s.maxTokens, 5)
  }
})

t.test('rewriteBody replaces the model and removes tags, leaving every other byte', async (t) => {
  const src = '{"model": "alias", "tags": {"team":"eng"}, "messages":[{"role":"user","content":"é"}]}'
  const body = b(src)
  const s = scanRequest(body)
  t.equal(rewriteBody(body, s, {}), body, 'no change: same buffer')
  const out = rewriteBody(body, s, { model: 'claude-opus-4-8', stripTags: true }).toString()
  t.same(JSON.parse(out), { model: 'claude-opus-4-8', messages: [{ role: 'user', content: 'é' }] })
  t.equal(out, '{"model": "claude-opus-4-8", "messages":[{"role":"user","content":"é"}]}')
  const last = b('{"model":"m","tags":{"a":"b"}}')
  t.equal(rewriteBody(last, scanRequest(last), { stripTags: true }).toString(), '{"model":"m"}', 'last member: the preceding comma goes')
  const only = b('{"tags":{"a":"b"}}')
  t.equal(rewriteBody(only, scanRequest(only), { stripTags: true }).toString(), '{}')
})
