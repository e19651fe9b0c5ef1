/**
 * A fake Anthropic Messages API on a real socket, scriptable per request, recording what it got.
 *
 * `script` decides each answer: stream SSE frames (optionally split into odd chunks, with delays
 * or a gate the test opens), answer with a status and body, hang before headers, or cut the
 * connection. Every request is recorded with its headers and raw body bytes, and its server-side
 * socket is kept so a test can see when the gateway hung up.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

export interface Recorded {
  method: string
  url: string
  headers: Record<string, string | string[] | undefined>
  body: Buffer
  /** Resolves when the gateway closed this request's connection or the response finished. */
  closed: Promise<'finished' | 'aborted'>
  /** Bytes the fake managed to hand to the socket before backpressure (for stream scripts). */
  written: number
}

export type Answer =
  | { kind: 'sse', frames: Array<string | Buffer>, delayMs?: number, gate?: Promise<void>, gateAfter?: number, headers?: Record<string, string>, thenDestroy?: boolean }
  | { kind: 'json', status: number, body: unknown, headers?: Record<string, string> }
  | { kind: 'raw', status: number, body: string | Buffer, headers?: Record<string, string> }
  | { kind: 'hang' }
  | { kind: 'destroy' }
  | { kind: 'flood', chunk: Buffer, totalBytes: number }

export interface FakeUpstream {
  readonly url: string
  readonly port: number
  readonly requests: Recorded[]
  script: (r: Recorded, n: number) => Answer
  close (): Promise<void>
}

export function sse (event: string, data: unknown): string {
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`
}

/** A small, complete streamed reply. */
export function simpleStream (text = 'hello', usage = { input_tokens: 100, output_tokens: 7, cache_creation_input_tokens: 10, cache_read_input_tokens: 20 }): string[] {
  return [
    sse('message_start', { type: 'message_start', message: { id: 'msg_1', type: 'message', role: 'assistant', model: 'claude-x', content: [], stop_reason: null, usage: { ...usage, output_tokens: 1 } } }),
    sse('content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }),
    sse('content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text } }),
    sse('content_block_stop', { type: 'content_block_stop', index: 0 }),
    sse('message_delta', { type: 'message_delta', delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: usage.output_tokens } }),
    sse('message_stop', { type: 'message_stop' }),
  ]
}

export async function startFakeUpstream (script?: FakeUpstream['script']): Promise<FakeUpstream> {
  const requests: Recorded[] = []
  const fake: FakeUpstream = {
    url: '',
    port: 0,
    requests,
    script: script ?? (() => ({ kind: 'sse', frames: simpleStream() })),
    close: async () => {
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      let settle!: (v: 'finished' | 'aborted') => void
      const rec: Recorded = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks), closed: new Promise((resolve) => { settle = resolve }), written: 0 }
      res.on('finish', () => settle('finished'))
      res.on('close', () => settle(res.writableFinished ? 'finished' : 'aborted'))
      requests.push(rec)
      void answer(fake.script(rec, requests.length - 1), rec, res)
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as AddressInfo).port
  Object.assign(fake, { url: `http://127.0.0.1:${port}`, port })
  return fake
}

/**
 * Resolves when `res` drains or closes, whichever comes first, and removes the other listener: a
 * flood waits thousands of times, and a listener left behind per wait piles up on `res`.
 */
async function drainOrClose (res: ServerResponse): Promise<void> {
  if (res.destroyed) return
  await new Promise<void>((resolve) => {
    const done = (): void => { res.off('drain', done); res.off('close', done); resolve() }
    res.once('drain', done)
    res.once('close', done)
  })
}

async function answer (a: Answer, rec: Recorded, res: ServerResponse): Promise<void> {
  switch (a.kind) {
    case 'hang': return
    case 'destroy': res.socket?.destroy(); return
    case 'json':
      res.writeHead(a.status, { 'content-type': 'application/json', 'request-id': 'req_fake', ...a.headers })
      res.end(JSON.stringify(a.body))
      return
    case 'raw':
      res.writeHead(a.status, { 'request-id': 'req_fake', ...a.headers })
      res.end(a.body)
      return
    case 'flood': {
      res.writeHead(200, { 'content-type': 'text/event-stream' })
      let sent = 0
      while (sent < a.totalBytes && !res.destroyed) {
        const ok = res.write(a.chunk)
        sent += a.chunk.length
        rec.written = sent
        if (!ok) await drainOrClose(res)
      }
      if (!res.destroyed) res.end()
      return
    }
    case 'sse': {
      res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', 'request-id': 'req_fake', ...a.headers })
      res.flushHeaders()
      for (let i = 0; i < a.frames.length; i++) {
        if (a.gate !== undefined && i === (a.gateAfter ?? 1)) await a.gate
        if (a.delayMs !== undefined && a.delayMs > 0) await new Promise((resolve) => setTimeout(resolve, a.delayMs))
        if (res.destroyed) return
        res.write(a.frames[i])
        rec.written += Buffer.byteLength(a.frames[i] as string)
      }
      if (a.thenDestroy === true) { setTimeout(() => res.socket?.destroy(), 50); return }
      res.end()
    }
  }
}
