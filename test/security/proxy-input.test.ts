/**
 * Hostile client input on the proxy path: forwarded header values the HTTP client would refuse
 * (control characters, DEL, overlong values) are the client's 400, answered before any upstream is
 * contacted; client text echoed in an error message (model ids, header names) is bounded and
 * escaped.
 */
import { connect } from 'node:net'
import t, { type Test } from 'tap'
import { keyRing, mintToken } from '../../lib/session/token.js'
import { echo } from '../../lib/proxy/echo.js'
import { checkForwarded, MAX_FORWARDED_VALUE } from '../../lib/proxy/headers.js'
import { startFakeUpstream, type FakeUpstream } from '../helpers/fake-upstream.js'
import { startTestGateway } from '../helpers/gateway.js'
import { TEST_SECRET } from '../helpers/gateway.js'
import { req, type RawResponse } from '../helpers/http.js'

const bearer = mintToken(keyRing([TEST_SECRET]), { sub: 'u-alice', email: 'alice@example.com', groups: ['eng'] }, { ttlHours: 1 }).token
const BODY = JSON.stringify({ model: 'claude-sonnet-4-5-20250929', max_tokens: 16, stream: true, messages: [{ role: 'user', content: 'hi' }] })

async function gateway (t: Test): Promise<{ url: string, port: number, fake: FakeUpstream }> {
  const fake = await startFakeUpstream()
  t.teardown(() => fake.close())
  const { gw, url } = await startTestGateway(t, { config: (c) => { c.upstreams = [{ provider: 'anthropic', name: 'a', base_url: fake.url, auth: { api_key: 'sk-a' } }, { provider: 'anthropic', name: 'b', base_url: fake.url, auth: { api_key: 'sk-b' } }] } })
  return { url, port: gw.port, fake }
}

/** One request with raw header bytes (a normal client refuses to send control characters). */
async function rawPost (port: number, header: Buffer, body = BODY): Promise<RawResponse> {
  return await new Promise((resolve, reject) => {
    const sock = connect(port, '127.0.0.1')
    const chunks: Buffer[] = []
    sock.on('data', (d: Buffer) => chunks.push(d))
    sock.on('error', reject)
    sock.on('close', () => {
      const data = Buffer.concat(chunks).toString('latin1')
      const [h = '', ...rest] = data.split('\r\n\r\n')
      const lines = h.split('\r\n')
      const headers: Record<string, string> = {}
      for (const l of lines.slice(1)) { const i = l.indexOf(':'); if (i > 0) headers[l.slice(0, i).toLowerCase()] = l.slice(i + 1).trim() }
      resolve({ status: Number(lines[0]?.split(' ')[1]), headers, body: rest.join('\r\n\r\n'), raw: data })
    })
    sock.write(Buffer.concat([
      Buffer.from(`POST /v1/messages HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${bearer}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n`),
      header, Buffer.from('\r\n\r\n'), Buffer.from(body),
    ]))
  })
}

t.test('a control character in a forwarded header is the client\'s 400, before any upstream is contacted', async (t) => {
  const { port, fake } = await gateway(t)
  const cases: Array<[string, Buffer]> = [
    ['anthropic-beta', Buffer.from('Anthropic-Beta: tools-2024\x7f-04-04', 'latin1')],
    ['x-stainless-lang', Buffer.from('X-Stainless-Lang: js\x7f', 'latin1')],
    ['user-agent', Buffer.from('User-Agent: claude-cli/2\x7f', 'latin1')],
    ['x-stainless-os', Buffer.from('X-Stainless-OS: Li\x7fnux', 'latin1')],
  ]
  for (const [name, header] of cases) {
    const r = await rawPost(port, header)
    t.equal(r.status, 400, `${name}: 400`)
    const body = JSON.parse(r.body) as { type: string, error: { type: string, message: string }, request_id: string }
    t.equal(body.error.type, 'invalid_request_error', name)
    t.ok(body.error.message.includes(`header "${name}"`), `${name}: the header is named (${body.error.message})`)
    t.ok(body.error.message.length < 200, `${name}: the message is short`)
    t.notMatch(body.error.message, /[\x00-\x1f\x7f]/, `${name}: no control character is echoed`)
  }
  t.equal(fake.requests.length, 0, 'no upstream was contacted')
  // The same request with clean headers goes through: the check is not over-eager.
  const ok = await rawPost(port, Buffer.from('Anthropic-Beta: tools-2024-04-04\r\nX-Stainless-Lang: js\r\nUser-Agent: claude-cli/2.1 (external, cli)\tx'))
  t.equal(ok.status, 200)
  t.equal(fake.requests.length, 1)
  t.equal(fake.requests[0]?.headers['anthropic-beta'], 'tools-2024-04-04')
})

t.test('model ids echoed in errors are bounded and escaped', async (t) => {
  const { url, fake } = await gateway(t)
  const hostile = 'claude-"evil"\u0007\u001b[31m\\' + 'x'.repeat(10_000)
  const r = await req(`${url}/v1/messages`, { method: 'POST', headers: { authorization: `Bearer ${bearer}`, 'content-type': 'application/json' }, body: JSON.stringify({ model: hostile, max_tokens: 1, messages: [] }) })
  t.equal(r.status, 400)
  const msg = (r.json() as { error: { message: string } }).error.message
  t.ok(msg.length < 600, `bounded (${msg.length} characters for a 10 kB model id, two upstreams' reasons included)`)
  t.notMatch(msg, /[\x00-\x1f\x7f]/, 'no control characters')
  t.ok(msg.includes('model "claude-\\"evil\\"\\u{7}\\u{1b}[31m\\\\xxx'), `quotes, backslashes and control characters escaped: ${msg.slice(0, 80)}`)
  t.match(msg, /x…"/, 'an ellipsis marks the cut')
  t.equal(fake.requests.length, 0)
})

t.test('echo: quoted, bounded, escaped', async (t) => {
  t.equal(echo('claude-opus-4'), '"claude-opus-4"')
  t.equal(echo('a"b\\c'), '"a\\"b\\\\c"')
  t.equal(echo('\r\n\u2028é'), '"\\u{d}\\u{a}\\u{2028}\\u{e9}"')
  t.equal(echo('y'.repeat(65)), `"${'y'.repeat(64)}…"`)
  t.equal(echo('y'.repeat(64)), `"${'y'.repeat(64)}"`)
})

t.test('checkForwarded: field values per RFC 9110, bounded; only forwarded headers are looked at', async (t) => {
  t.equal(checkForwarded({ 'anthropic-beta': 'a,b', 'user-agent': 'x\ty', 'x-stainless-arch': 'x64', 'x-other': '\x00' }), null)
  t.match(checkForwarded({ 'anthropic-version': 'v'.repeat(MAX_FORWARDED_VALUE + 1) })?.message, /^header "anthropic-version" is longer than 8192 characters$/)
  t.equal(checkForwarded({ 'anthropic-version': 'v'.repeat(MAX_FORWARDED_VALUE) }), null)
  t.equal(checkForwarded({ accept: 'a\nb' })?.status, 400)
  t.equal(checkForwarded({ 'content-type': 'a\u0100' })?.status, 400, 'nothing past 0xFF (the HTTP client refuses it)')
  t.equal(checkForwarded({ 'content-type': 'caf\u00e9' }), null, 'obs-text is allowed')
  t.match(checkForwarded({ 'x-stainless-a b': 'x' })?.message, /^header name "x-stainless-a b" is not a valid HTTP token$/)
})
