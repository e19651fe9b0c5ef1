/**
 * The attempt/failover loop with fake senders (no sockets): failover on 429/529/5xx, connection
 * errors and header timeouts before the first byte; nothing retried once bytes reached the client
 * (a mid-stream failure ends the SSE stream with an `error` event); the exhausted-failover answer;
 * a client abort reaching the upstream; settle and audit once per request.
 */
import t from 'tap'
import type { Dispatcher } from 'undici'
import { setLogSink } from '../../../lib/log.js'
import { NO_ACCOUNTING, type Accounting, type Outcome } from '../../../lib/proxy/accounting.js'
import type { MessagesDeps } from '../../../lib/proxy/admission.js'
import { Failover } from '../../../lib/proxy/attempts.js'
import { Exchange } from '../../../lib/proxy/exchange.js'
import { scanRequest } from '../../../lib/proxy/json-scan.js'
import { LocalController, type Handler } from '../../../lib/proxy/upstreams/local.js'
import type { Upstream } from '../../../lib/proxy/upstreams/types.js'
import type { Principal } from '../../../lib/session/token.js'
import { FakeRes, fakeReq } from './fakes.js'

const alice: Principal = { sub: 'u-alice', email: 'alice@example.com', name: undefined, groups: ['eng'], iat: 0, exp: 0 }
const BODY = Buffer.from(JSON.stringify({ model: 'claude-haiku-4-5', max_tokens: 64, stream: true, messages: [{ role: 'user', content: 'hi' }] }))
const SSE = ['event: message_start\ndata: {"type":"message_start","message":{"usage":{"input_tokens":12,"output_tokens":1}}}\n\n',
  'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"hello"}}\n\n',
  'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":5}}\n\n',
  'event: message_stop\ndata: {"type":"message_stop"}\n\n']

/** What a fake upstream does with one request. */
type Script =
  | { status: number, headers?: Record<string, string>, chunks: string[], failAfter?: number, hang?: boolean }
  | { error: string, code?: string }

const sse = (chunks = SSE): Script => ({ status: 200, headers: { 'content-type': 'text/event-stream', 'request-id': 'req_up' }, chunks })
const json = (status: number, type: string, extra: Record<string, string> = {}): Script =>
  ({ status, headers: { 'content-type': 'application/json', ...extra }, chunks: [JSON.stringify({ type: 'error', error: { type, message: `upstream says ${type}` } })] })

interface FakeUp extends Upstream { calls: number, aborted: number }

/** An upstream whose sender plays `scripts` in turn (the last one repeats), through undici's current interface. */
function fakeUpstream (name: string, ...scripts: Script[]): FakeUp {
  const up: FakeUp = {
    name, provider: 'anthropic', sanitizeErrors: false, needsPings: false, calls: 0, aborted: 0,
    prepare: (call) => ({ origin: 'http://fake.invalid', path: '/v1/messages', headers: { ...call.headers }, body: call.body }),
    close: async () => {},
    dispatcher: {
      dispatch (_o: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
        const s = scripts[Math.min(up.calls++, scripts.length - 1)] as Script
        const h = handler as Handler
        let gone = false
        const c: LocalController = new LocalController((r) => { gone = true; up.aborted++; h.onResponseError(c, r) }, () => { queueMicrotask(play) })
        let i = 0
        h.onRequestStart(c, {})
        const play = (): void => {
          if (gone || !('status' in s)) return
          // One chunk per socket read, as undici delivers them; a paused request waits for resume.
          if (c.paused) return
          if (i < s.chunks.length) {
            if (s.failAfter === i) { gone = true; h.onResponseError(c, Object.assign(new Error('other side closed'), { code: 'UND_ERR_SOCKET' })); return }
            h.onResponseData(c, Buffer.from(s.chunks[i++] as string))
            if (!c.paused) setImmediate(play)
            return
          }
          if (!s.hang) h.onResponseEnd(c, {})
        }
        setImmediate(() => {
          if (gone) return
          if ('error' in s) { h.onResponseError(c, Object.assign(new Error(s.error), { code: s.code })); return }
          h.onResponseStart(c, s.status, { ...s.headers }, '')
          play()
        })
        return true
      },
      close: async () => {},
    },
  }
  return up
}

interface Run { res: FakeRes, x: Exchange, audits: Array<Record<string, unknown>>, settled: Outcome[], finished: Promise<void>, abort: () => void }

function run (ups: Upstream[], over: Partial<MessagesDeps> = {}): Run {
  const audits: Array<Record<string, unknown>> = []
  setLogSink((line) => {
    if (!line.startsWith('{')) return
    const o = JSON.parse(line) as Record<string, unknown>
    if (o.evt === 'inference') audits.push(o)
  })
  const settled: Outcome[] = []
  const accounting: Accounting = { ...NO_ACCOUNTING, settle: (_a, _p, o) => { settled.push(o) } }
  const deps: MessagesDeps = {
    upstreams: ups, models: null as never, policy: { checkModel: () => {}, auditFields: () => null }, accounting,
    authenticate: () => alice, cri: null, maxBodyBytes: 1 << 20, billingGroupTag: undefined, upstreamGroups: ups.map(() => null), loadTest: false, pools: null, ...over,
  }
  const res = new FakeRes()
  const rq = fakeReq({ 'content-type': 'application/json' })
  const x = new Exchange(res, rq, 'messages', deps)
  x.principal = alice
  x.body = BODY
  x.scan = scanRequest(BODY)
  x.model = 'claude-haiku-4-5'
  const finished = new Promise<void>((resolve) => { rq.onFinish = () => { resolve() } })
  new Failover(x, ups.map((_, i) => ({ upstream: i, model: 'claude-haiku-4-5', rewrite: false })), -1).attempt()
  const abort = (): void => { rq.aborted = true; x.abortReason = 'client_closed'; x.out.abort(new Error('client closed the connection')) }
  return { res, x, audits, settled, finished, abort }
}

t.afterEach(() => { setLogSink(undefined) })

t.test('429, 529 and 5xx before the first byte fail over; the next upstream\'s stream is the answer', async (t) => {
  for (const first of [json(429, 'rate_limit_error', { 'retry-after': '3' }), json(529, 'overloaded_error'), json(500, 'api_error'), json(401, 'authentication_error'), json(404, 'not_found_error')]) {
    const a = fakeUpstream('a', first)
    const b = fakeUpstream('b', sse())
    const r = run([a, b])
    await r.finished
    const st = 'status' in first ? first.status : 0
    t.match(r.res.status, /^200/, `${st}: b answered`)
    t.equal(r.res.body, SSE.join(''), `${st}: the stream passed unchanged`)
    t.notMatch(r.res.body, /upstream says/, `${st}: a's error text never reached the client`)
    t.equal(r.audits.length, 1, `${st}: one audit line`)
    t.match(r.audits[0], { status: 200, upstream: 'b', attempts: 2, upstream_request_id: 'req_up', output_tokens: 5, input_tokens: 12 })
    t.equal(r.settled.length, 1, `${st}: settled once`)
    t.match(r.settled[0], { status: 200, upstream: 'b', usage: { input_tokens: 12, output_tokens: 5 } })
  }
})

t.test('connection errors and header timeouts fail over too', async (t) => {
  const r = run([fakeUpstream('a', { error: 'connect ECONNREFUSED', code: 'ECONNREFUSED' }), fakeUpstream('b', { error: 'Headers Timeout Error', code: 'UND_ERR_HEADERS_TIMEOUT' }), fakeUpstream('c', sse())])
  await r.finished
  t.match(r.res.status, /^200/)
  t.match(r.audits[0], { upstream: 'c', attempts: 3 })
})

t.test('exhausted failover: the registry\'s answer (429 outranks 5xx; all timed out → 504; else 502)', async (t) => {
  const cases: Array<[string, Script[], number, RegExp]> = [
    ['429 then 503', [json(429, 'rate_limit_error'), json(503, 'api_error')], 429, /upstream rate limit exceeded/],
    ['every attempt timed out', [{ error: 'Headers Timeout Error', code: 'UND_ERR_HEADERS_TIMEOUT' }, { error: 'Body Timeout Error', code: 'UND_ERR_BODY_TIMEOUT' }], 504, /did not answer in time \(2 attempted\)/],
    ['a reset and a 502', [{ error: 'other side closed', code: 'UND_ERR_SOCKET' }, json(502, 'api_error')], 502, /all upstreams failed \(2 attempted\)/],
  ]
  for (const [label, [sa, sb], status, message] of cases) {
    const r = run([fakeUpstream('a', sa as Script), fakeUpstream('b', sb as Script)])
    await r.finished
    t.match(r.res.status, new RegExp(`^${status}`), `${label}: status`)
    t.match(r.res.body, message, `${label}: message`)
    t.notMatch(r.res.body, /upstream says/, `${label}: no upstream text`)
    t.match(r.audits[0], { status, attempts: 2 }, `${label}: audited`)
    t.equal(r.settled.length, 1, `${label}: settled once`)
    t.equal(r.settled[0]?.usage, null, `${label}: nothing to bill`)
  }
})

t.test('a status that does not fail over is the answer, relayed', async (t) => {
  const b = fakeUpstream('b', sse())
  const r = run([fakeUpstream('a', json(400, 'invalid_request_error')), b])
  await r.finished
  t.match(r.res.status, /^400/)
  t.match(r.res.body, /upstream says invalid_request_error/, 'the Anthropic error text is relayed for client recovery')
  t.equal(b.calls, 0, 'no failover on 400')
})

t.test('a failure after bytes reached the client is not retried: the stream ends with an error event', async (t) => {
  const a = fakeUpstream('a', { ...(sse() as { status: number, chunks: string[] }), failAfter: 2 })
  const b = fakeUpstream('b', sse())
  const r = run([a, b])
  await r.finished
  t.match(r.res.status, /^200/)
  t.ok(r.res.body.startsWith(SSE[0] as string + SSE[1] as string), 'what was streamed stays')
  t.match(r.res.body, /event: error\ndata: .*"api_error".*the upstream connection failed while streaming/)
  t.equal(b.calls, 0, 'b was not tried after bytes reached the client')
  t.same(r.res.ops.at(-1), ['end', ''], 'the response is ended')
  t.match(r.audits[0], { status: 200, upstream: 'a', attempts: 1, abort: 'upstream_error' })
  t.equal(r.settled.length, 1)
  t.equal(r.settled[0]?.aborted, true)
})

t.test('a client abort mid-stream aborts the upstream and settles what was seen (499)', async (t) => {
  const a = fakeUpstream('a', { ...(sse() as { status: number, chunks: string[] }), chunks: SSE.slice(0, 2), hang: true })
  const r = run([a])
  while (r.res.body.length === 0) await new Promise((resolve) => setImmediate(resolve))
  r.abort()
  await r.finished
  t.equal(a.aborted, 1, 'the upstream request was aborted')
  t.match(r.audits[0], { status: 499, abort: 'client_closed' })
  t.equal(r.settled.length, 1)
  t.match(r.settled[0], { status: 499, aborted: true, usage: { input_tokens: 12 } })
})

t.test('backpressure: a full client pauses the fake upstream until it drains', async (t) => {
  const a = fakeUpstream('a', sse())
  const r = run([a])
  r.res.full = true
  while (r.res.writable === null) await new Promise((resolve) => setImmediate(resolve))
  await new Promise((resolve) => setTimeout(resolve, 20))
  t.ok(r.res.body.length < SSE.join('').length, 'the upstream stopped while the client was full')
  t.equal(r.x.settled, false, 'and the request waits')
  r.res.drain()
  await r.finished
  t.equal(r.res.body, SSE.join(''), 'all of it after the drain')
})

t.test('the inference line: ts and evt first, then the fields in their fixed order', async (t) => {
  const r = run([fakeUpstream('a', sse())])
  const raw: string[] = []
  setLogSink((l) => { if (l.includes('"evt":"inference"')) raw.push(l) })
  await r.finished
  t.equal(raw.length, 1, 'one line')
  const line = raw[0] as string
  t.match(line, /^\{"ts":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z","evt":"inference","request_id":"[^"]+","sub":"/, 'the line starts with ts, evt, request_id, sub')
  t.ok(line.endsWith('}\n'), 'one line')
  const order = ['ts', 'evt', 'request_id', 'sub', 'email', 'path', 'model', 'upstream', 'upstream_model', 'upstream_request_id', 'status', 'ms', 'bytes', 'attempts',
    'input_tokens', 'output_tokens', 'cache_read_tokens', 'cache_write_tokens', 'billing_group', 'abort']
  const keys = Object.keys(JSON.parse(line) as object)
  t.same(keys, order.filter((k) => keys.includes(k)), `keys in the fixed order: ${keys.join(',')}`)
  t.ok(keys.includes('output_tokens') && keys.includes('upstream_model'), 'with the usage and the upstream model')
})
