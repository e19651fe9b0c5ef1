/**
 * An upstream killed mid-stream (its socket destroyed after some SSE bytes): the client's stream
 * ends with a clean SSE `error` event and a proper end (never a reset), spend is settled for what
 * streamed, and no connection is left behind — the upstream sees every connection close, and the
 * gateway goes on serving with a bounded number of upstream connections.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import t from 'tap'
import { simpleStream } from '../helpers/fake-upstream.js'
import { req } from '../helpers/http.js'
import { BODY, eventually } from '../integration/spend-helpers.js'
import { cappedGateway, spentMicro } from './rig.js'

interface KillUpstream { url: string, open: Set<Socket>, seen: number, mode: 'kill-boundary' | 'kill-mid-event' | 'ok', close: () => Promise<void> }

/** A bare upstream that counts its connections and kills streams on demand. */
async function killUpstream (): Promise<KillUpstream> {
  const frames = simpleStream('x'.repeat(2000), { input_tokens: 10_000, output_tokens: 600, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 })
  const u: KillUpstream = { url: '', open: new Set(), seen: 0, mode: 'ok', close: async () => {} }
  const server = createServer((rq: IncomingMessage, res: ServerResponse) => {
    rq.resume()
    rq.on('end', () => {
      res.writeHead(200, { 'content-type': 'text/event-stream' })
      if (u.mode === 'ok') { res.end(frames.join('')); return }
      // message_start, content_block_start and the big delta; then the socket dies.
      const sent = frames.slice(0, 3).join('')
      res.write(u.mode === 'kill-boundary' ? sent : sent.slice(0, sent.length - 700))
      setTimeout(() => res.socket?.destroy(), 30)
    })
  })
  server.on('connection', (s: Socket) => { u.seen++; u.open.add(s); s.on('close', () => u.open.delete(s)) })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  u.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  u.close = async () => { server.closeAllConnections(); await new Promise<void>((resolve) => server.close(() => resolve())) }
  return u
}


function lastEvent (text: string): { name: string, data: { type: string, error: { type: string, message: string } } } {
  const events = text.split('\n\n').filter((e) => e !== '')
  const last = events[events.length - 1] ?? ''
  const m = /^event: (\w+)\ndata: (.*)$/s.exec(last)
  if (m === null) throw new Error(`not an SSE event: ${JSON.stringify(last)}`)
  return { name: m[1] as string, data: JSON.parse(m[2] as string) }
}

t.test('killed mid-stream: a clean SSE error and end, spend settled, no leaked connections', async (t) => {
  const up = await killUpstream()
  t.teardown(() => up.close())
  const { url, dbUrl, token } = await cappedGateway(t, up, 'u-kill', '500')
  const post = async () => await req(`${url}/v1/messages`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: BODY })

  for (const mode of ['kill-boundary', 'kill-mid-event'] as const) {
    up.mode = mode
    const r = await post() // a reset instead of a proper end would throw here
    t.equal(r.status, 200, `${mode}: the stream had started`)
    t.match(r.text, /^event: message_start\n/, `${mode}: what streamed reached the client`)
    const ev = lastEvent(r.text)
    t.equal(ev.name, 'error', `${mode}: the last event is an SSE error`)
    t.equal(ev.data.error.type, 'api_error', mode)
    t.notMatch(r.text, /message_stop/, mode)
  }
  // Input (10,000 tokens on Haiku 4.5: 1 cent) plus the estimated output, for each of the two.
  const spent = await eventually(async () => { const s = await spentMicro(dbUrl, 'u-kill'); return s >= 2_000_000 ? s : 0 }, 'both killed streams to be settled', 60_000)
  t.ok(spent > 2_000_000 && spent < 2_000_000 + 2 * 1000 * 500, `billed for what streamed (${spent} µ¢)`)

  // Many more kills: every connection the upstream saw is closed again, and none piles up.
  up.mode = 'kill-boundary'
  for (let i = 0; i < 20; i++) t.equal(lastEvent((await post()).text).name, 'error')
  await eventually(async () => up.open.size === 0, 'every killed connection to close')
  t.equal(up.open.size, 0, `no open upstream connection after ${up.seen} kills`)
  up.mode = 'ok'
  const rs = await Promise.all(Array.from({ length: 8 }, async () => await post()))
  t.ok(rs.every((r) => r.status === 200 && /event: message_stop/.test(r.text)), 'the gateway still serves')
  t.ok(up.open.size <= 8, `upstream connections stay bounded (${up.open.size} open)`)
})
