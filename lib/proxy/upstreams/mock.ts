/**
 * `provider: mock` — an upstream that lives inside the gateway (no socket), for trying Weir and
 * checking client set-up without a model provider. It answers like the Messages API: a streamed
 * reply as `event:`/`data:` SSE with a `message_start` usage block and a final `message_delta`
 * output count, a JSON message for non-streaming requests, and `{"input_tokens": N}` for
 * count_tokens. `delay_ms` spaces out the streamed events; `events` sets how many deltas a block has.
 *
 * What it says: an echo of the last user text; or, so a client's tool loop can be tried, a
 * `tool_use` block when the prompt says "run `CMD`" (Bash) or "read /abs/path" (Read) and the
 * request offers that tool, then, on the request that carries the `tool_result`, a reply quoting
 * the result. Nothing runs inside the gateway: the client executes the tool.
 *
 * It implements undici's dispatcher interface (legacy handler callbacks), honouring pause/resume
 * and abort exactly like a socket would, so the hot path treats it like any other upstream.
 * Benchmarks use a real fake upstream over sockets instead.
 */
import type { Dispatcher } from 'undici'
import type { MockUpstream } from '../../config/schema.js'
import type { Outgoing, Sender, Upstream, UpstreamCall } from './types.js'
import { LocalController, type Handler } from './local.js'

const enc = (s: string): Buffer => Buffer.from(s, 'utf8')
const sse = (event: string, data: unknown): Buffer => enc(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`)

type Block = Record<string, unknown>

/** The last user message's content as blocks (a string becomes one text block). */
function lastUserBlocks (body: Record<string, unknown>): Block[] {
  const msgs = Array.isArray(body.messages) ? body.messages as Block[] : []
  for (let i = msgs.length - 1; i >= 0; i--) {
    const m = msgs[i]
    if (m?.role !== 'user') continue
    if (typeof m.content === 'string') return [{ type: 'text', text: m.content }]
    if (Array.isArray(m.content)) return (m.content as Block[]).filter((b) => b !== null && typeof b === 'object')
    return []
  }
  return []
}

/** The person's words: text blocks, without the client's `<system-reminder>` context blocks. */
const textsOf = (blocks: Block[]): string[] =>
  blocks.filter((b) => b.type === 'text' && typeof b.text === 'string' && !(b.text as string).trimStart().startsWith('<system-reminder>')).map((b) => b.text as string)

/** A tool_result's text (its content is a string or a list of blocks), client reminders left out. */
function resultText (b: Block): string {
  const text = typeof b.content === 'string' ? b.content
    : Array.isArray(b.content) ? (b.content as Block[]).filter((c) => c?.type === 'text' && typeof c.text === 'string').map((c) => c.text as string).join('\n')
      : ''
  return text.replace(/<system-reminder>[\s\S]*?<\/system-reminder>/g, '')
}

/** Names of the tools the request offers. */
const toolNames = (body: Record<string, unknown>): Set<string> =>
  new Set((Array.isArray(body.tools) ? body.tools as Block[] : []).map((t) => t?.name).filter((n): n is string => typeof n === 'string'))

/**
 * The tool call a prompt asks for, when the request offers that tool:
 * "run `CMD`" → Bash `{command: CMD}`; "read /abs/path" (or "read `/abs/path`") → Read `{file_path}`.
 */
export function toolCallFor (said: string, tools: Set<string>): { name: string, input: Record<string, unknown> } | null {
  const run = /\brun\s+`([^`]+)`/i.exec(said)
  if (run !== null && tools.has('Bash')) return { name: 'Bash', input: { command: run[1] as string, description: 'Run the command the prompt asked for' } }
  const read = /\bread\s+`?(\/[^\s`]+)`?/i.exec(said)
  if (read !== null && tools.has('Read')) return { name: 'Read', input: { file_path: read[1] as string } }
  return null
}

/** Split `text` into `n` roughly equal pieces (n ≥ 1). */
function pieces (text: string, n: number): string[] {
  const out: string[] = []
  const size = Math.max(1, Math.ceil(text.length / n))
  for (let i = 0; i < n; i++) out.push(text.slice(i * size, (i + 1) * size))
  return out
}

/**
 * What the mock model says to a request:
 * - the last user message carries `tool_result` blocks → a text reply quoting the results;
 * - the prompt asks to run or read something and the request offers that tool → a short text block
 *   and a `tool_use` block, stop_reason `tool_use` (the client runs the tool and sends the result);
 * - otherwise → an echo of the prompt.
 */
function answer (body: Record<string, unknown>): { content: Block[], stop: 'end_turn' | 'tool_use' } {
  const blocks = lastUserBlocks(body)
  const results = blocks.filter((b) => b.type === 'tool_result')
  if (results.length > 0) {
    const quoted = results.map((b) => `${b.is_error === true ? 'The tool failed' : 'The tool returned'}:\n${resultText(b).trim().slice(0, 2000)}`).join('\n\n')
    return { content: [{ type: 'text', text: quoted }], stop: 'end_turn' }
  }
  const texts = textsOf(blocks)
  const call = toolCallFor(texts.join('\n'), toolNames(body))
  if (call !== null) {
    const id = `toolu_mock_${Math.random().toString(36).slice(2, 14)}`
    return { content: [{ type: 'text', text: `Using the ${call.name} tool.` }, { type: 'tool_use', id, name: call.name, input: call.input }], stop: 'tool_use' }
  }
  const last = (texts[texts.length - 1] ?? '').trim()
  return { content: [{ type: 'text', text: last === '' ? 'Hello from the Weir mock upstream.' : `You said: ${last.slice(0, 2000)}` }], stop: 'end_turn' }
}

/** The streamed events of one content block (tool input arrives as input_json_delta pieces). */
function blockFrames (b: Block, index: number, events: number): Buffer[] {
  if (b.type === 'tool_use') {
    return [
      sse('content_block_start', { type: 'content_block_start', index, content_block: { type: 'tool_use', id: b.id, name: b.name, input: {} } }),
      ...pieces(JSON.stringify(b.input), Math.max(2, events)).filter((p) => p !== '').map((p) => sse('content_block_delta', { type: 'content_block_delta', index, delta: { type: 'input_json_delta', partial_json: p } })),
      sse('content_block_stop', { type: 'content_block_stop', index }),
    ]
  }
  return [
    sse('content_block_start', { type: 'content_block_start', index, content_block: { type: 'text', text: '' } }),
    ...pieces(b.text as string, events).map((t) => sse('content_block_delta', { type: 'content_block_delta', index, delta: { type: 'text_delta', text: t } })),
    sse('content_block_stop', { type: 'content_block_stop', index }),
  ]
}

function replyFor (bodyText: string, events: number): { frames: Buffer[], json: Buffer, status: number } {
  let body: Record<string, unknown>
  try { body = JSON.parse(bodyText) as Record<string, unknown> } catch {
    const err = enc(JSON.stringify({ type: 'error', error: { type: 'invalid_request_error', message: 'mock upstream: body is not JSON' } }))
    return { frames: [], json: err, status: 400 }
  }
  const model = typeof body.model === 'string' ? body.model : 'mock'
  const { content, stop } = answer(body)
  const input = Math.max(1, Math.ceil(bodyText.length / 4))
  const output = Math.max(1, Math.ceil(JSON.stringify(content).length / 4))
  const id = `msg_mock_${Math.random().toString(36).slice(2, 12)}`
  const usage = { input_tokens: input, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, output_tokens: output }
  const json = enc(JSON.stringify({ id, type: 'message', role: 'assistant', model, content, stop_reason: stop, stop_sequence: null, usage }))
  const frames = [
    sse('message_start', { type: 'message_start', message: { id, type: 'message', role: 'assistant', model, content: [], stop_reason: null, stop_sequence: null, usage: { ...usage, output_tokens: 1 } } }),
    sse('ping', { type: 'ping' }),
    ...content.flatMap((b, i) => blockFrames(b, i, events)),
    sse('message_delta', { type: 'message_delta', delta: { stop_reason: stop, stop_sequence: null }, usage: { output_tokens: output } }),
    sse('message_stop', { type: 'message_stop' }),
  ]
  return { frames, json, status: 200 }
}


/** A dispatcher that answers in-process. */
class MockSender implements Sender {
  constructor (private readonly delayMs: number, private readonly events: number) {}

  dispatch (opts: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
    const h = handler as Handler
    const bodyText = Buffer.isBuffer(opts.body) ? opts.body.toString('utf8') : typeof opts.body === 'string' ? opts.body : ''
    let aborted = false
    let timer: NodeJS.Timeout | null = null
    let waiting: (() => void) | null = null
    const c = new LocalController((reason: Error) => {
      if (aborted) return
      aborted = true
      if (timer !== null) clearTimeout(timer)
      h.onResponseError(c, reason)
    }, () => { const w = waiting; waiting = null; w?.() })
    h.onRequestStart(c, {})
    const path = String(opts.path)
    queueMicrotask(() => {
      if (aborted) return
      if (path.startsWith('/v1/messages/count_tokens')) {
        const json = enc(JSON.stringify({ input_tokens: Math.max(1, Math.ceil(bodyText.length / 4)) }))
        h.onResponseStart(c, 200, { 'content-type': 'application/json', 'request-id': 'req_mock' }, 'OK')
        if (!aborted) h.onResponseData(c, json)
        if (!aborted) h.onResponseEnd(c, {})
        return
      }
      const r = replyFor(bodyText, this.events)
      const streaming = r.status === 200 && /"stream"\s*:\s*true/.test(bodyText)
      if (!streaming) {
        h.onResponseStart(c, r.status, { 'content-type': 'application/json', 'request-id': 'req_mock' }, 'OK')
        if (!aborted) h.onResponseData(c, r.json)
        if (!aborted) h.onResponseEnd(c, {})
        return
      }
      h.onResponseStart(c, 200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', 'request-id': 'req_mock' }, 'OK')
      let i = 0
      const step = (): void => {
        timer = null
        if (aborted) return
        if (i >= r.frames.length) { h.onResponseEnd(c, {}); return }
        h.onResponseData(c, r.frames[i++] as Buffer)
        if (c.paused) { waiting = next; return }
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

/** `loadTest`: in load_test_mode the mock answers with the canned load-test reply instead. */
export function mockUpstream (cfg: MockUpstream, loadTest?: Sender): Upstream {
  const sender = loadTest ?? new MockSender(cfg.delay_ms, cfg.events)
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
