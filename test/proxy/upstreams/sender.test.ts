/**
 * The cloud upstreams' dispatcher wrapper, driven through undici's current handler interface as the hot
 * path drives it: local answers, credential invalidation on 401/403, CountTokens reshaping and
 * refusal, guardrail-trace stripping of JSON replies.
 */
import t from 'tap'
import type { Dispatcher } from 'undici'
import { GatewayError } from '../../../lib/errors.js'
import { stripTrace } from '../../../lib/proxy/upstreams/guardrail.js'
import { CloudSender, type SenderHooks } from '../../../lib/proxy/upstreams/sender.js'
import { LocalController, type Handler } from '../../../lib/proxy/upstreams/local.js'
import type { Sender } from '../../../lib/proxy/upstreams/types.js'

/** An inner dispatcher that answers every request with `status`, `headers` and `body`. */
function fakeInner (status: number, headers: Record<string, string>, body: string): Sender & { calls: number } {
  const s = {
    calls: 0,
    dispatch (_o: Dispatcher.DispatchOptions, h: Dispatcher.DispatchHandler): boolean {
      s.calls++
      const l = h as Handler
      const c = new LocalController(() => {})
      l.onRequestStart(c, {})
      queueMicrotask(() => {
        l.onResponseStart(c, status, { ...headers }, '')
        l.onResponseData(c, Buffer.from(body.slice(0, 5)))
        l.onResponseData(c, Buffer.from(body.slice(5)))
        l.onResponseEnd(c, {})
      })
      return true
    },
    close: async () => {},
  }
  return s
}

interface Got { status?: number, headers: Record<string, string>, body: string, error?: Error }

async function send (sender: Sender, path: string, headers: Record<string, string> = {}): Promise<Got> {
  return await new Promise((resolve) => {
    const got: Got = { headers: {}, body: '' }
    sender.dispatch({ origin: 'http://x', path, method: 'POST', headers, body: '{}' }, {
      onRequestStart () {},
      onResponseStart (_c: Dispatcher.DispatchController, status: number, headers: Record<string, string | string[] | undefined>) {
        got.status = status
        for (const k in headers) got.headers[k] = String(headers[k])
      },
      onResponseData (_c: Dispatcher.DispatchController, c: Buffer) { got.body += c.toString() },
      onResponseEnd () { resolve(got) },
      onResponseError (_c: Dispatcher.DispatchController, err: Error) { got.error = err; resolve(got) },
    } satisfies Handler)
  })
}

t.test('401/403 drop the cached credential, at most once per 30 s', async (t) => {
  let dropped = 0
  const s = new CloudSender(fakeInner(403, { 'content-type': 'application/json' }, '{"message":"expired"}'), 'up', { onAuthFailure: () => { dropped++ } })
  const r = await send(s, '/x')
  t.equal(r.status, 403, 'the answer itself is unchanged (the hot path fails over)')
  t.equal(r.body, '{"message":"expired"}')
  await send(s, '/x')
  t.equal(dropped, 1)
  const ok = new CloudSender(fakeInner(200, {}, 'fine'), 'up', { onAuthFailure: () => { dropped++ } })
  await send(ok, '/x')
  t.equal(dropped, 1)
})

t.test('count replies are reshaped, or refused so the hot path fails over', async (t) => {
  const outcomes: Array<number | null> = []
  const hooks: NonNullable<SenderHooks['count']> = {
    matches: (p) => p.endsWith('/count-tokens'),
    reshape: (b) => { const j = JSON.parse(b.toString()) as { inputTokens?: number }; return typeof j.inputTokens === 'number' ? Buffer.from(`{"input_tokens":${j.inputTokens}}`) : null },
    outcome: (_p, status) => { outcomes.push(status) },
    refusal: 'cannot count here',
  }
  const ok = await send(new CloudSender(fakeInner(200, { 'content-type': 'application/json' }, '{"inputTokens":321}'), 'up', { count: hooks }), '/model/m/count-tokens')
  t.equal(ok.status, 200)
  t.equal(ok.body, '{"input_tokens":321}')
  const odd = await send(new CloudSender(fakeInner(200, { 'content-type': 'application/json' }, '{"tokens":1}'), 'up', { count: hooks }), '/model/m/count-tokens')
  t.ok(odd.error instanceof GatewayError && odd.error.code === 'GW_NOT_SUPPORTED')
  const denied = await send(new CloudSender(fakeInner(403, { 'content-type': 'application/json' }, '{"message":"no"}'), 'up', { count: hooks }), '/model/m/count-tokens')
  t.equal(denied.status, undefined, 'no status reaches the hot path')
  t.equal(denied.error?.message, 'cannot count here')
  t.same(outcomes, [null, 0, 403])
  const other = await send(new CloudSender(fakeInner(200, {}, 'stream'), 'up', { count: hooks }), '/model/m/invoke')
  t.equal(other.body, 'stream', 'other paths pass through')
})

t.test('guardrail traces leave JSON replies and stream events; the rest is untouched', async (t) => {
  const logged: string[] = []
  const reshape = (b: Buffer): Buffer => stripTrace(b, (l) => { logged.push(l) })
  const msg = JSON.stringify({ id: 'm', type: 'message', content: [], 'amazon-bedrock-guardrailAction': 'INTERVENED', 'amazon-bedrock-trace': { guardrail: { input: { gr: { topicPolicy: { topics: [{ name: 'secret-project', action: 'BLOCKED' }] } } } } } })
  const s = new CloudSender(fakeInner(200, { 'content-type': 'application/json' }, msg), 'up', { json: { matches: (p) => p.endsWith('/invoke'), reshape } })
  const r = await send(s, '/model/m/invoke')
  t.same(JSON.parse(r.body), { id: 'm', type: 'message', content: [], 'amazon-bedrock-guardrailAction': 'INTERVENED' })
  t.match(logged[0], /action=INTERVENED: .*secret-project/)
  const plain = '{"type":"message_stop"}'
  t.equal(stripTrace(Buffer.from(plain), () => {}).toString(), plain)
  const stop = Buffer.from(JSON.stringify({ type: 'message_stop', 'amazon-bedrock-invocationMetrics': { inputTokenCount: 1 }, 'amazon-bedrock-trace': { guardrail: {} } }))
  t.same(JSON.parse(stripTrace(stop, () => {}).toString()), { type: 'message_stop', 'amazon-bedrock-invocationMetrics': { inputTokenCount: 1 } })
  const nonJson = await send(new CloudSender(fakeInner(200, { 'content-type': 'application/vnd.amazon.eventstream' }, 'binary'), 'up', { json: { matches: () => true, reshape } }), '/model/m/invoke')
  t.equal(nonJson.body, 'binary', 'only JSON replies are buffered')
  const err = await send(new CloudSender(fakeInner(400, { 'content-type': 'application/json' }, '{"message":"x"}'), 'up', { json: { matches: () => true, reshape } }), '/model/m/invoke')
  t.equal(err.status, 400)
})
