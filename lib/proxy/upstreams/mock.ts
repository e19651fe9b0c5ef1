/**
 * `provider: mock` — an upstream that lives inside the gateway (no socket), for trying Weir and
 * checking client set-up without a model provider. It answers like the Messages API: a streamed
 * reply echoing the last user text as `event:`/`data:` SSE with a `message_start` usage block and
 * a final `message_delta` output count, a JSON message for non-streaming requests, and
 * `{"input_tokens": N}` for count_tokens. `delay_ms` spaces out the streamed events; `events` sets
 * how many content deltas the reply has.
 *
 * It implements undici's dispatcher interface (legacy handler callbacks), honouring pause/resume
 * and abort exactly like a socket would, so the hot path treats it like any other upstream.
 * Benchmarks use a real fake upstream over sockets instead.
 */
import type { Dispatcher } from 'undici'
import type { MockUpstream } from '../../config/schema.js'
import type { Outgoing, Sender, Upstream, UpstreamCall } from './types.js'

const enc = (s: string): Buffer => Buffer.from(s, 'utf8')
const sse = (event: string, data: unknown): Buffer => enc(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`)

/** The text of the last user message, or '' (content may be a string or content blocks). */
function lastUserText (body: Record<string, unknown>): string {
  const msgs = Array.isArray(body.messages) ? body.messages as Array<Record<string, unknown>> : []
  for (let i = msgs.length - 1; i >= 0; i--) {
    const m = msgs[i]
    if (m?.role !== 'user') continue
    if (typeof m.content === 'string') return m.content
    if (Array.isArray(m.content)) {
      const texts = (m.content as Array<Record<string, unknown>>).filter((b) => b?.type === 'text' && typeof b.text === 'string').map((b) => b.text as string)
      if (texts.length > 0) return texts[texts.length - 1] as string
    }
  }
  return ''
}

/** Split `text` into `n` roughly equal pieces (n ≥ 1). */
function pieces (text: string, n: number): string[] {
  const out: string[] = []
  const size = Math.max(1, Math.ceil(text.length / n))
  for (let i = 0; i < n; i++) out.push(text.slice(i * size, (i + 1) * size))
  return out
}

function replyFor (bodyText: string, events: number): { frames: Buffer[], json: Buffer, status: number } {
  let body: Record<string, unknown>
  try { body = JSON.parse(bodyText) as Record<string, unknown> } catch {
    const err = enc(JSON.stringify({ type: 'error', error: { type: 'invalid_request_error', message: 'mock upstream: body is not JSON' } }))
    return { frames: [], json: err, status: 400 }
  }
  const model = typeof body.model === 'string' ? body.model : 'mock'
  const said = lastUserText(body).trim().slice(0, 2000)
  const text = said === '' ? 'Hello from the Weir mock upstream.' : `You said: ${said}`
  const input = Math.max(1, Math.ceil(bodyText.length / 4))
  const output = Math.max(1, Math.ceil(text.length / 4))
  const id = `msg_mock_${Math.random().toString(36).slice(2, 12)}`
  const usage = { input_tokens: input, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, output_tokens: output }
  const json = enc(JSON.stringify({ id, type: 'message', role: 'assistant', model, content: [{ type: 'text', text }], stop_reason: 'end_turn', stop_sequence: null, usage }))
  const frames = [
    sse('message_start', { type: 'message_start', message: { id, type: 'message', role: 'assistant', model, content: [], stop_reason: null, stop_sequence: null, usage: { ...usage, output_tokens: 1 } } }),
    sse('content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }),
    sse('ping', { type: 'ping' }),
    ...pieces(text, events).map((t) => sse('content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: t } })),
    sse('content_block_stop', { type: 'content_block_stop', index: 0 }),
    sse('message_delta', { type: 'message_delta', delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: output } }),
    sse('message_stop', { type: 'message_stop' }),
  ]
  return { frames, json, status: 200 }
}

function rawHeaders (h: Record<string, string>): Buffer[] {
  const out: Buffer[] = []
  for (const k in h) out.push(enc(k), enc(h[k] as string))
  return out
}

/** A dispatcher that answers in-process. */
class MockSender implements Sender {
  constructor (private readonly delayMs: number, private readonly events: number) {}

  dispatch (opts: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
    const h = handler as Required<Pick<Dispatcher.DispatchHandler, 'onConnect' | 'onHeaders' | 'onData' | 'onComplete' | 'onError'>>
    const bodyText = Buffer.isBuffer(opts.body) ? opts.body.toString('utf8') : typeof opts.body === 'string' ? opts.body : ''
    let aborted = false
    let timer: NodeJS.Timeout | null = null
    let waiting: (() => void) | null = null
    h.onConnect((reason?: unknown) => {
      if (aborted) return
      aborted = true
      if (timer !== null) clearTimeout(timer)
      h.onError(reason instanceof Error ? reason : new Error('aborted'))
    })
    const path = String(opts.path)
    queueMicrotask(() => {
      if (aborted) return
      if (path.startsWith('/v1/messages/count_tokens')) {
        const json = enc(JSON.stringify({ input_tokens: Math.max(1, Math.ceil(bodyText.length / 4)) }))
        h.onHeaders(200, rawHeaders({ 'content-type': 'application/json', 'request-id': 'req_mock' }), () => {}, 'OK')
        if (!aborted) h.onData(json)
        if (!aborted) h.onComplete([])
        return
      }
      const r = replyFor(bodyText, this.events)
      const streaming = r.status === 200 && /"stream"\s*:\s*true/.test(bodyText)
      if (!streaming) {
        h.onHeaders(r.status, rawHeaders({ 'content-type': 'application/json', 'request-id': 'req_mock' }), () => {}, 'OK')
        if (!aborted) h.onData(r.json)
        if (!aborted) h.onComplete([])
        return
      }
      const resume = (): void => { const w = waiting; waiting = null; w?.() }
      h.onHeaders(200, rawHeaders({ 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', 'request-id': 'req_mock' }), resume, 'OK')
      let i = 0
      const step = (): void => {
        timer = null
        if (aborted) return
        if (i >= r.frames.length) { h.onComplete([]); return }
        const more = h.onData(r.frames[i++] as Buffer)
        if (more === false) { waiting = next; return }
        next()
      }
      const next = (): void => {
        if (aborted) return
        if (this.delayMs > 0) timer = setTimeout(step, this.delayMs)
        else setImmediate(step)
      }
      next()
    })
    return true
  }

  async close (): Promise<void> {}
}

export function mockUpstream (cfg: MockUpstream): Upstream {
  const sender = new MockSender(cfg.delay_ms, cfg.events)
  return {
    name: cfg.name,
    provider: 'mock',
    sanitizeErrors: false,
    needsPings: true,
    dispatcher: sender,
    prepare: (call: UpstreamCall): Outgoing => ({
      origin: 'http://mock.invalid',
      path: (call.endpoint === 'count_tokens' ? '/v1/messages/count_tokens' : '/v1/messages') + (call.query === '' ? '' : `?${call.query}`),
      headers: { ...call.headers },
      body: call.body,
    }),
    close: async () => {},
  }
}
