/**
 * Through the real uWS build this host loads: a streamed answer and a long whole body reach a
 * reader that keeps stalling byte for byte. uWS drops a write that overflows its cork buffer on a
 * socket that pushes back (lib/http/cork.ts); before the cork budget, one to four 8 KB chunks of a
 * 64 MB stream went missing in about one run of three with such a reader.
 */
import { connect, type Socket } from 'node:net'
import t from 'tap'
import { loadUws } from '../../lib/http/native.js'
import { send } from '../../lib/http/respond.js'
import { Output } from '../../lib/proxy/bridge.js'
import { FakeController, fakeReq } from '../proxy/hot/fakes.js'

type Source = (res: import('uWebSockets.js').HttpResponse) => void

/** A uWS app on a free port answering every request with `source`. */
async function serve (source: Source): Promise<{ port: number, close: () => void }> {
  const uws = loadUws().module
  const app = uws.App()
  app.any('/*', (res) => { source(res) })
  return await new Promise((resolve, reject) => {
    app.listen('127.0.0.1', 0, (ls) => {
      if (ls === false) { reject(new Error('listen failed')); return }
      resolve({ port: uws.us_socket_local_port(ls), close: () => { uws.us_listen_socket_close(ls); app.close() } })
    })
  })
}

/** One GET read by a client that stalls (see below); the raw reply once it is complete. */
async function stallingGet (port: number, stallMs: number): Promise<Buffer> {
  return await new Promise((resolve, reject) => {
    const sock: Socket = connect(port, '127.0.0.1', () => sock.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n'))
    const parts: Buffer[] = []
    let bytes = 0
    let tail = Buffer.alloc(0)
    let need = -1
    let headEnd = -1
    // Not reading at all for half a second, then reading in 3 ms bursts, then reading freely.
    sock.pause()
    let toggle: NodeJS.Timeout | undefined
    const stop = (): void => { clearInterval(toggle); clearTimeout(give) }
    setTimeout(() => { toggle = setInterval(() => { if (sock.isPaused()) sock.resume(); else sock.pause() }, 3) }, 500)
    setTimeout(() => { clearInterval(toggle); sock.resume() }, stallMs)
    const give = setTimeout(() => { stop(); sock.destroy(); reject(new Error(`no complete reply after 60 s: ${bytes} bytes arrived`)) }, 60_000)
    sock.on('data', (d: Buffer) => {
      parts.push(d)
      bytes += d.length
      tail = Buffer.concat([tail, d]).subarray(-5)
      if (headEnd < 0) {
        const all = Buffer.concat(parts)
        headEnd = all.indexOf('\r\n\r\n')
        if (headEnd >= 0) {
          const len = /content-length: (\d+)/i.exec(all.subarray(0, headEnd).toString('latin1'))
          if (len !== null) need = headEnd + 4 + Number(len[1])
        }
      }
      const done = headEnd >= 0 && (need >= 0 ? bytes >= need : tail.toString('latin1') === '0\r\n\r\n')
      if (done) { stop(); sock.destroy(); resolve(Buffer.concat(parts)) }
    })
    sock.on('error', reject)
  })
}

/** The body of a complete reply (chunked framing removed). */
function bodyOf (reply: Buffer): Buffer {
  const h = reply.indexOf('\r\n\r\n')
  const head = reply.subarray(0, h).toString('latin1')
  const rest = reply.subarray(h + 4)
  if (!/transfer-encoding: chunked/i.test(head)) return rest
  const out: Buffer[] = []
  let at = 0
  for (;;) {
    const eol = rest.indexOf('\r\n', at)
    const n = parseInt(rest.subarray(at, eol).toString('latin1'), 16)
    if (n === 0) break
    out.push(rest.subarray(eol + 2, eol + 2 + n))
    at = eol + 2 + n + 2
  }
  return Buffer.concat(out)
}

/** Chunk `i` of a stream: its own byte pattern, so a lost or repeated chunk shows. */
function chunk (i: number, size: number): Buffer {
  const b = Buffer.alloc(size, 97 + (i % 26))
  b.writeUInt32BE(i, 0)
  return b
}

/** Stream `count` chunks of `size` through the bridge, four per tick, holding while the client is full. */
function streamThroughBridge (count: number, size: number): Source {
  return (res) => {
    const rq = fakeReq()
    res.onAborted(() => { rq.aborted = true })
    const out = new Output(res, rq)
    const up = new FakeController()
    out.attach(up)
    out.start(200, ['content-type', 'text/event-stream'], null)
    let i = 0
    const pump = (): void => {
      for (let k = 0; k < 4 && i < count && !up.paused; k++) {
        out.send(chunk(i++, size))
        out.pace()
      }
      if (rq.aborted) return
      if (i === count) { out.end(); return }
      if (!up.paused) setImmediate(pump)
    }
    up.onResume = () => { setImmediate(pump) }
    setImmediate(pump)
  }
}

for (const [label, count, size] of [['8 KB chunks, four per tick', 8000, 8000], ['40 KB chunks (longer than the cork buffer)', 1600, 40_000]] as const) {
  t.test(`a stream of ${label} reaches a stalling reader whole`, async (t) => {
    const srv = await serve(streamThroughBridge(count, size))
    t.teardown(srv.close)
    for (let round = 0; round < 3; round++) {
      const body = bodyOf(await stallingGet(srv.port, 3000))
      t.equal(body.length, count * size, `round ${round}: every byte (${count * size})`)
      let bad = -1
      for (let i = 0; i < count && bad < 0; i++) if (!body.subarray(i * size, (i + 1) * size).equals(chunk(i, size))) bad = i
      t.equal(bad, -1, `round ${round}: every chunk in order`)
    }
  })
}

t.test('a long whole body (send) reaches a stalling reader whole', async (t) => {
  const big = Buffer.alloc(6 * 1024 * 1024)
  for (let i = 0; i < big.length; i += 4) big.writeUInt32BE(i, i)
  const srv = await serve((res) => {
    const rq = fakeReq()
    res.onAborted(() => { rq.aborted = true })
    setImmediate(() => { send(res, rq, 200, big, { 'content-type': 'application/octet-stream' }) })
  })
  t.teardown(srv.close)
  for (let round = 0; round < 3; round++) {
    const body = bodyOf(await stallingGet(srv.port, 2000))
    t.equal(body.length, big.length, `round ${round}: content-length honoured`)
    t.ok(body.equals(big), `round ${round}: the same bytes`)
  }
})
