/**
 * A fake OTLP/HTTP collector for tests: a real HTTP server that records every request (path,
 * headers, body, decompressed when gzip) and answers with a status the test picks — or never
 * answers at all (`hang`), like a collector that is up but stuck.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import { gunzipSync } from 'node:zlib'

export interface Received {
  readonly path: string
  readonly headers: IncomingMessage['headers']
  /** The body as sent on the wire. */
  readonly raw: Buffer
  /** The body after undoing `content-encoding: gzip`. */
  readonly body: Buffer
}

export interface Collector {
  readonly url: string
  readonly received: Received[]
  /** Requests seen so far, answered or not. */
  readonly seen: () => number
  /** Decide each answer: a status, or 'hang' to never answer. Default 200. */
  answer: (r: Received, n: number) => number | 'hang' | { status: number, headers: Record<string, string> }
  /** While set, requests are read and counted in `seen()` but answered (and recorded) only once it resolves. */
  gate?: Promise<void> | undefined
  close: () => Promise<void>
}

export async function startCollector (): Promise<Collector> {
  const received: Received[] = []
  const sockets = new Set<Socket>()
  const hanging = new Set<ServerResponse>()
  let n = 0
  const c: Collector = {
    url: '',
    received,
    seen: () => n,
    answer: () => 200,
    close: async () => {
      for (const r of hanging) r.destroy()
      for (const s of sockets) s.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (d: Buffer) => chunks.push(d))
    req.on('end', () => {
      const raw = Buffer.concat(chunks)
      let body = raw
      if (req.headers['content-encoding'] === 'gzip') { try { body = gunzipSync(raw) } catch { body = Buffer.from('(not gzip)') } }
      const r: Received = { path: req.url ?? '', headers: req.headers, raw, body }
      const i = n++
      const reply = (): void => {
        const a = c.answer(r, i)
        if (a === 'hang') { hanging.add(res); return }
        received.push(r)
        if (typeof a === 'number') res.writeHead(a).end()
        else res.writeHead(a.status, a.headers).end()
      }
      if (c.gate !== undefined) void c.gate.then(reply)
      else reply()
    })
  })
  server.on('connection', (s) => { sockets.add(s); s.on('close', () => sockets.delete(s)) })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  ;(c as { url: string }).url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  return c
}

/** Poll `check` every 20 ms until it returns a value other than undefined/false, or fail after `ms` (a hang guard: 30 s, for loaded 2-core machines). */
export async function until<T> (what: string, check: () => T | undefined | false | Promise<T | undefined | false>, ms = 30_000): Promise<T> {
  const deadline = Date.now() + ms
  for (;;) {
    const v = await check()
    if (v !== undefined && v !== false) return v
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}
