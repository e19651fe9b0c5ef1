/**
 * A misbehaving upstream that ignores `max_tokens` cannot spend past a developer's cap: the stream
 * is metered as it passes, its reservation grows while the cap has room, and once the cap is
 * reached the stream is cut with an SSE `error` event. The ledger shows what streamed, and never
 * more than the cap by more than one request's reservation.
 */
import t from 'tap'
import { Pricer } from '../../lib/metering/pricing.js'
import { sse, startFakeUpstream, type FakeUpstream } from '../helpers/fake-upstream.js'
import { req } from '../helpers/http.js'
import { MODEL, eventually } from '../integration/spend-helpers.js'
import { cappedGateway, spentMicro } from './rig.js'

/** 400 characters: about 100 tokens by the gateway's byte estimate. */
const TEXT = 'abcd'.repeat(100)
/** Haiku 4.5 output: $5/MTok = 500 micro-cents a token. */
const OUT_MICRO = 500

function runaway (deltas: number): string[] {
  const frames = [
    sse('message_start', { type: 'message_start', message: { id: 'msg_x', type: 'message', role: 'assistant', model: MODEL, content: [], stop_reason: null, usage: { input_tokens: 10, output_tokens: 1 } } }),
    sse('content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }),
  ]
  for (let i = 0; i < deltas; i++) frames.push(sse('content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: TEXT } }))
  frames.push(sse('content_block_stop', { type: 'content_block_stop', index: 0 }))
  // It even claims one output token at the end.
  frames.push(sse('message_delta', { type: 'message_delta', delta: { stop_reason: 'max_tokens', stop_sequence: null }, usage: { output_tokens: 1 } }))
  frames.push(sse('message_stop', { type: 'message_stop' }))
  return frames
}


/** The spend figure once it stopped moving. */
async function settledSpend (dbUrl: string, sub: string): Promise<number> {
  let last = -1
  return await eventually(async () => {
    const now = await spentMicro(dbUrl, sub)
    const stable = now > 0 && now === last
    last = now
    if (!stable) await new Promise((resolve) => setTimeout(resolve, 300))
    return stable ? now : 0
  }, 'the spend to be written', 60_000)
}

for (const [shape, frames] of [['event by event', runaway(400)], ['the whole stream in one write', [runaway(400).join('')]]] as const) {
t.test(`max_tokens: 1 answered with thousands of tokens (${shape}): cut at the cap, the ledger shows what streamed`, async (t) => {
  const fake: FakeUpstream = await startFakeUpstream(() => ({ kind: 'sse', frames: [...frames] }))
  t.teardown(() => fake.close())
  const { url, dbUrl, token } = await cappedGateway(t, fake, 'u-runaway', '1')
  const body = JSON.stringify({ model: MODEL, max_tokens: 1, stream: true, messages: [{ role: 'user', content: 'say one word' }] })
  const worst = new Pricer().worst(MODEL, Buffer.byteLength(body), 1, Date.now())

  const r = await req(`${url}/v1/messages`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body })
  t.equal(r.status, 200)
  const events = r.text.split('\n\n').filter((e) => e !== '')
  const last = events[events.length - 1] ?? ''
  t.match(last, /^event: error\ndata: /, 'the stream ends with an SSE error event')
  const err = JSON.parse(last.slice(last.indexOf('data: ') + 6)) as { type: string, error: { type: string, message: string } }
  t.equal(err.error.type, 'billing_error')
  t.ok(events.slice(0, -1).every((e) => /^event: \w+\ndata: \{.*\}$/.test(e)), 'every event before it is whole')
  const received = events.filter((e) => e.startsWith('event: content_block_delta')).length
  t.ok(received > 0 && received < 100, `cut early: ${received} of 400 deltas reached the client`)
  t.notMatch(r.text, /message_stop/)

  const spent = await settledSpend(dbUrl, 'u-runaway')
  t.ok(spent <= 1_000_000 + worst, `never past the 1¢ cap by more than one reservation (${spent} µ¢, reservation ${worst} µ¢)`)
  // About 105 tokens by the estimate for each 400-character delta that reached the client.
  t.ok(spent >= received * 100 * OUT_MICRO, `what streamed is billed (${spent} µ¢ for ${received} deltas), not the one token claimed`)
  t.ok(spent <= (received + 1) * 110 * OUT_MICRO + 100_000, 'and not what was held back')

  const again = await req(`${url}/v1/messages`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body })
  // The cap's last remainder may admit one more request (budget.ts, step 3): it is cut at once.
  if (again.status === 200) t.match(again.text, /event: error\ndata: \{"type":"error","error":\{"type":"billing_error"/, 'admitted on the last remainder, and cut')
  else t.equal(again.status, 429, 'the cap is reached: refused')
  const total = await settledSpend(dbUrl, 'u-runaway')
  t.ok(total <= 1_000_000 + worst, `still within one reservation of the cap (${total} µ¢)`)
})
}

t.test('an overrun with room under the cap streams to the end and is billed as streamed', async (t) => {
  const fake: FakeUpstream = await startFakeUpstream(() => ({ kind: 'sse', frames: runaway(30) }))
  t.teardown(() => fake.close())
  const { url, dbUrl, token } = await cappedGateway(t, fake, 'u-roomy', '100')
  const body = JSON.stringify({ model: MODEL, max_tokens: 1, stream: true, messages: [{ role: 'user', content: 'say one word' }] })
  const r = await req(`${url}/v1/messages`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body })
  t.equal(r.status, 200)
  t.match(r.text, /event: message_stop/, 'not cut: the cap has room')
  t.notMatch(r.text, /event: error/)
  const spent = await settledSpend(dbUrl, 'u-roomy')
  t.ok(spent >= 30 * 100 * OUT_MICRO, `the 30 deltas that streamed are billed (${spent} µ¢), not the one token claimed`)
  t.ok(spent <= 32 * 110 * OUT_MICRO + 100_000, 'and no more')
})
