/**
 * Identity stamping on OTLP bodies (lib/telemetry/otlp.ts), for every signal in protobuf and JSON,
 * on bodies produced by OpenTelemetry's own serializers.
 */
import { gunzipSync, gzipSync } from 'node:zlib'
import t from 'tap'
import { SIGNALS, makeStamp, stampBatch, stampJsonDoc, stampProtobuf, type StampInput } from '../../lib/telemetry/otlp.js'
import { Writer, fields } from '../../lib/telemetry/protobuf.js'
import { decode, otlpBody } from './otlp-fixtures.js'

const alice = { sub: 'u-alice', email: 'alice@example.com', groups: ['eng', 'admins'] }
const spoofed = {
  resource: { 'service.name': 'claude-code', 'user.email': 'mallory@evil.example', 'user.id': 'spoof', 'identity.source': 'self', 'team.name': 'blue' },
  record: { 'user.email': 'mallory@evil.example', 'user.id': 'spoof', 'session.id': 's-1', 'terminal.type': 'xterm' },
}

const input = (over: Partial<StampInput> & Pick<StampInput, 'body' | 'signal' | 'json'>): StampInput =>
  ({ gzip: false, identity: alice, labels: {}, maxBytes: 1 << 20, ...over })

const ab = (b: Uint8Array): ArrayBuffer => b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer

for (const signal of SIGNALS) {
  for (const format of ['protobuf', 'json'] as const) {
    t.test(`${signal} ${format}: identity overwritten, everything else kept`, async (t) => {
      const ct = format === 'json' ? 'application/json' : 'application/x-protobuf'
      const body = otlpBody(signal, format, spoofed)
      const before = decode(signal, ct, body)
      t.equal(before.resources[0]?.['user.email'], 'mallory@evil.example', 'the decoder reads what the official encoder wrote')
      t.ok(before.records.length > 0 && before.records.every((r) => r['user.email'] === 'mallory@evil.example'))

      const out = stampBatch(input({ body: ab(body), signal, json: format === 'json' }))
      const after = decode(signal, ct, out)
      t.equal(after.resources.length, before.resources.length)
      for (const r of after.resources) {
        t.equal(r['user.id'], 'u-alice')
        t.equal(r['user.email'], 'alice@example.com')
        t.equal(r['user.groups'], 'eng,admins')
        t.equal(r['identity.source'], 'gateway-oidc')
        t.equal(r['service.name'], 'claude-code', 'other resource attributes kept')
        t.equal(r['team.name'], 'blue')
      }
      t.equal(after.records.length, before.records.length)
      after.records.forEach((r, i) => {
        t.equal(r['user.email'], 'alice@example.com', `record ${i}: email replaced`)
        t.equal(r['user.id'], 'u-alice', `record ${i}: user.id replaced`)
        t.equal(r['session.id'], 's-1', `record ${i}: other attributes kept`)
        t.notOk('user.groups' in r, 'no key is added to records')
        const { 'user.email': _e, 'user.id': _i, ...rest } = before.records[i] as Record<string, string>
        const { 'user.email': _e2, 'user.id': _i2, ...rest2 } = r
        t.same(rest2, rest)
      })
      t.same(after.names, before.names, 'payload otherwise intact')
      t.equal(Buffer.from(out).indexOf('mallory'), -1, 'no trace of the spoofed identity')
      t.equal(Buffer.from(out).indexOf('spoof'), -1)

      const again = stampBatch(input({ body: ab(out), signal, json: format === 'json' }))
      t.same(Buffer.from(again), Buffer.from(out), 'stamping is idempotent')

      const gz = stampBatch(input({ body: ab(gzipSync(body)), signal, json: format === 'json', gzip: true }))
      t.same(decode(signal, ct, gunzipSync(gz)), after, 'gzip in, gzip out, same content')
    })
  }
}

t.test('protobuf: bytes outside the identity keys are copied unchanged', async (t) => {
  const body = otlpBody('metrics', 'protobuf', { resource: { 'service.name': 'claude-code' }, record: { 'session.id': 's-1' } })
  const scopeOf = (b: Uint8Array): Buffer[] => {
    const out: Buffer[] = []
    for (const rm of fields(b)) for (const f of fields(rm.data)) if (f.num === 2) out.push(Buffer.from(f.raw))
    return out
  }
  const out = stampProtobuf(body, 'metrics', makeStamp(alice))
  t.same(scopeOf(out), scopeOf(body), 'scope metrics (all the data) byte-identical')
  t.ok(out.length > body.length)
})

t.test('no email, no groups: the keys are removed, not invented', async (t) => {
  const body = otlpBody('logs', 'protobuf', spoofed)
  const out = decode('logs', 'application/x-protobuf', stampBatch(input({ body: ab(body), signal: 'logs', json: false, identity: { sub: 'u-bob', groups: [] } })))
  const r = out.resources[0] ?? {}
  t.equal(r['user.id'], 'u-bob')
  t.notOk('user.email' in r)
  t.notOk('user.groups' in r)
  t.equal(r['identity.source'], 'gateway-oidc')
  for (const rec of out.records) { t.notOk('user.email' in rec); t.equal(rec['user.id'], 'u-bob') }
})

t.test('operator labels are set on the resource and win over the client', async (t) => {
  const body = otlpBody('metrics', 'json', spoofed)
  const out = decode('metrics', 'application/json', stampBatch(input({ body: ab(body), signal: 'metrics', json: true, labels: { 'team.name': 'core', 'cost.center': 'cc-1' } })))
  t.equal(out.resources[0]?.['team.name'], 'core')
  t.equal(out.resources[0]?.['cost.center'], 'cc-1')
  t.equal(out.resources[0]?.['service.name'], 'claude-code')
})

t.test('a resource-less entry gets a resource; repeated keys and repeated resources are handled', async (t) => {
  const kv = (k: string, v: string): Uint8Array => new Writer().string(1, k).bytes(2, new Writer().string(1, v).finish()).finish()
  const scope = new Writer().bytes(2, new Writer().string(1, 'm').finish()).finish()
  const noResource = new Writer().bytes(1, new Writer().bytes(2, scope).finish()).finish()
  const out = decode('metrics', 'application/x-protobuf', stampProtobuf(noResource, 'metrics', makeStamp(alice)))
  t.equal(out.resources[0]?.['user.id'], 'u-alice')
  t.same(out.names, ['m'])

  const res1 = new Writer().bytes(1, kv('user.email', 'a@evil')).bytes(1, kv('user.email', 'b@evil')).bytes(1, kv('x', '1')).finish()
  const res2 = new Writer().bytes(1, kv('user.id', 'evil')).bytes(1, kv('y', '2')).finish()
  const twoResources = new Writer().bytes(1, new Writer().bytes(1, res1).bytes(1, res2).finish()).finish()
  const got = decode('metrics', 'application/x-protobuf', stampProtobuf(twoResources, 'metrics', makeStamp(alice)))
  t.same(got.resources[0], { x: '1', 'user.id': 'u-alice', 'user.email': 'alice@example.com', 'user.groups': 'eng,admins', 'identity.source': 'gateway-oidc', y: '2' },
    'merged resource: each identity key exactly once, with the verified value')
})

t.test('JSON: snake_case members and a missing resource', async (t) => {
  const doc = {
    resource_metrics: [
      { resource: { attributes: [{ key: 'user.email', value: { stringValue: 'x@evil' } }] }, scope_metrics: [{ metrics: [{ name: 'm', sum: { data_points: [{ attributes: [{ key: 'user.email', value: { stringValue: 'x@evil' } }, { key: 'user.email', value: { stringValue: 'y@evil' } }], asInt: '3' }] } }] }] },
      { scopeMetrics: [] },
    ],
  }
  stampJsonDoc(doc, 'metrics', makeStamp(alice))
  const s = JSON.stringify(doc)
  t.notMatch(s, /evil/)
  t.match(s, /"data_points":\[\{"attributes":\[\{"key":"user.email","value":\{"stringValue":"alice@example.com"\}\}\],"asInt":"3"\}\]/)
  t.match(JSON.stringify((doc.resource_metrics[1] as Record<string, unknown>).resource), /u-alice/)
  t.throws(() => stampJsonDoc([1], 'metrics', makeStamp(alice)), TypeError)
})

t.test('malformed, oversized and bomb bodies are refused', async (t) => {
  t.throws(() => stampBatch(input({ body: ab(Buffer.from([0x0a, 0x05, 0x01])), signal: 'metrics', json: false })), /truncated/)
  t.throws(() => stampBatch(input({ body: ab(Buffer.from([0x0b])), signal: 'metrics', json: false })), /wire type/)
  t.throws(() => stampBatch(input({ body: ab(Buffer.from('{nope')), signal: 'logs', json: true })), SyntaxError)
  t.throws(() => stampBatch(input({ body: ab(Buffer.from('not gzip')), signal: 'logs', json: true, gzip: true })))
  const bomb = gzipSync(Buffer.alloc(4 << 20))
  t.ok(bomb.length < 64 * 1024)
  t.throws(() => stampBatch(input({ body: ab(bomb), signal: 'metrics', json: false, gzip: true, maxBytes: 1 << 20 })), /Cannot create a Buffer larger|buffer|output/i)
  t.throws(() => stampBatch(input({ body: ab(Buffer.alloc(2 << 20)), signal: 'metrics', json: false, maxBytes: 1 << 20 })), /size limit/)
})
