/**
 * The bridge with a fake uWS response and a fake undici controller: one corked write per tick,
 * backpressure pausing and resuming the upstream, spend checks holding it, late headers, nothing
 * written after the client left, pings only at event boundaries, and the undici handler adapter.
 */
import './ping-env.js'
import t from 'tap'
import { CORK_ROOM } from '../../../lib/http/cork.js'
import { headerPairs, Output, UpstreamLink, type AttemptEvents } from '../../../lib/proxy/bridge.js'
import { FakeController, FakeRes, fakeReq, tick } from './fakes.js'

t.test('status line, headers and chunks queued in one tick go out in one cork', async (t) => {
  const res = new FakeRes()
  const rq = fakeReq()
  const o = new Output(res, rq)
  o.start(200, ['content-type', 'text/event-stream'], null)
  o.send(Buffer.from('event: a\n\n'))
  o.send(Buffer.from('event: b\n\n'))
  t.equal(res.ops.length, 0, 'nothing written synchronously')
  t.equal(rq.started, true)
  await tick()
  t.equal(res.corks, 1, 'one cork')
  t.match(res.status, /^200/)
  t.same(res.header('content-type'), ['text/event-stream'])
  t.same(res.header('x-request-id'), ['req-test-1'], 'base headers carry the request id')
  t.equal(res.body, 'event: a\n\nevent: b\n\n')
  t.equal(o.bytesOut, 20)
  o.end()
  t.equal(res.corks, 2)
  t.same(res.ops.at(-1), ['end', ''])
  t.equal(o.ended, true)
  o.end()
  t.equal(res.corks, 2, 'the end is written once')
})

t.test('no cork is handed more than the cork buffer holds: long chunks go out in pieces, bytes unchanged', async (t) => {
  const res = new FakeRes()
  const o = new Output(res, fakeReq())
  o.start(200, ['content-type', 'text/event-stream'], null)
  const big = Buffer.alloc(100_000)
  for (let i = 0; i < big.length; i++) big[i] = 97 + (i % 26)
  const small = Buffer.from('event: ping\ndata: {}\n\n')
  const want: Buffer[] = []
  for (let i = 0; i < 40; i++) { o.send(small); want.push(small) }
  o.send(big)
  want.push(big)
  for (let i = 0; i < 3; i++) { o.send(small); want.push(small) }
  await tick()
  o.end()
  t.equal(res.body, Buffer.concat(want).toString(), 'every byte, in order')
  t.ok(res.corks >= Math.ceil(big.length / CORK_ROOM), `${res.corks} corks`)
  t.ok(res.corkBytes.every((n) => n <= CORK_ROOM), `largest cork ${Math.max(...res.corkBytes)} bytes <= ${CORK_ROOM}`)
  t.equal(res.ops.filter((x) => x[0] === 'end').length, 1)
  t.equal(res.ops.at(-1)?.[0], 'end', 'the end comes last')
})

t.test('a full client socket pauses the upstream at the next chunk; the drain resumes it', async (t) => {
  const res = new FakeRes()
  const o = new Output(res, fakeReq())
  const c = new FakeController()
  o.attach(c)
  o.start(200, [], null)
  res.full = true
  o.send(Buffer.from('x'))
  await tick()
  t.equal(o.paused, true, 'the push-back is seen')
  t.same(res.ops.filter((x) => x[0] === 'onWritable').length, 1)
  o.pace()
  t.equal(c.paused, true, 'the upstream is paused with the chunk in hand')
  res.drain()
  t.equal(o.paused, false)
  t.equal(c.resumes, 1, 'resumed once the client drained')
  o.pace()
  t.equal(c.pauses, 1, 'no pause while the client keeps up')
})

t.test('a spend check holds the upstream even when the client drains; release resumes it', async (t) => {
  const res = new FakeRes()
  const o = new Output(res, fakeReq())
  const c = new FakeController()
  o.attach(c)
  o.start(200, [], null)
  res.full = true
  o.send(Buffer.from('x'))
  await tick()
  o.check()
  t.equal(c.paused, true)
  res.drain()
  t.equal(c.resumes, 0, 'still held for the check')
  o.release()
  t.equal(c.resumes, 1, 'released')
  const o2 = new Output(new FakeRes(), fakeReq())
  const c2 = new FakeController()
  o2.attach(c2)
  o2.start(200, [], null)
  const r2 = o2.res as unknown as FakeRes
  o2.check()
  r2.full = true
  o2.send(Buffer.from('y'))
  await tick()
  o2.release()
  t.equal(c2.resumes, 0, 'the check answered while the client is full: wait for the drain')
  r2.drain()
  t.equal(c2.resumes, 1)
})

t.test('late headers wait for the first bytes and are asked for then', async (t) => {
  const res = new FakeRes()
  const o = new Output(res, fakeReq())
  let asked = 0
  o.start(200, ['content-type', 'text/event-stream'], { lateHeaders: () => { asked++; return { 'anthropic-ratelimit-unified-status': 'allowed' } } })
  await tick()
  t.equal(res.ops.length, 0, 'the head waits')
  t.equal(asked, 0)
  o.send(Buffer.from('event: message_start\n\n'))
  await tick()
  t.equal(asked, 1)
  t.equal(res.corks, 1, 'head and first bytes in one cork')
  t.same(res.header('anthropic-ratelimit-unified-status'), ['allowed'])
  t.equal(res.body, 'event: message_start\n\n')
})

t.test('nothing is written once the client went away; abort reaches the upstream once', async (t) => {
  const res = new FakeRes()
  const rq = fakeReq()
  const o = new Output(res, rq)
  const c = new FakeController()
  o.attach(c)
  o.start(200, [], null)
  o.send(Buffer.from('x'))
  rq.aborted = true
  await tick()
  o.end()
  t.same(res.ops, [], 'no write after abort')
  t.equal(o.abort(new Error('client closed')), true)
  t.equal(c.aborted, true)
  t.equal(o.abort(new Error('again')), false, 'no attempt in flight any more')
  o.check()
  o.release()
  t.equal(c.resumes, 0, 'a detached controller is never resumed')
})

t.test('reply, close and error render whole answers', async (t) => {
  const res = new FakeRes()
  const o = new Output(res, fakeReq())
  o.reply(429, ['retry-after', '17'], Buffer.from('{"type":"error"}'))
  t.equal(res.corks, 1)
  t.match(res.status, /^429/)
  t.same(res.header('retry-after'), ['17'])
  t.same(res.ops.at(-1), ['end', '{"type":"error"}'])
  t.equal(o.status, 429)

  const r2 = new FakeRes()
  const rq2 = fakeReq()
  const o2 = new Output(r2, rq2)
  o2.start(200, [], null)
  o2.send(Buffer.from('{"partial'))
  o2.close()
  t.equal(r2.ops.at(-1)?.[0], 'close', 'the connection is dropped after what was queued')
  t.equal(r2.body, '{"partial')

  const { GatewayError } = await import('../../../lib/errors.js')
  const r3 = new FakeRes()
  new Output(r3, fakeReq()).error(new GatewayError('GW_MODEL_REQUIRED'))
  t.match(r3.status, /^400/)
  t.match(r3.body, /"invalid_request_error"/)
})

t.test('pings: only for streams that asked, at event boundaries, while the client keeps up', async (t) => {
  const { pingAfterMs } = await import('../../../lib/proxy/bridge.js')
  t.equal(pingAfterMs(), 150, 'the test interval is in force')
  const quiet = new FakeRes()
  const oq = new Output(quiet, fakeReq())
  oq.start(200, [], null)
  oq.ping()
  const mid = new FakeRes()
  const om = new Output(mid, fakeReq())
  om.start(200, [], null)
  om.send(Buffer.from('event: content_block_delta\ndata: {"par'))
  om.ping()
  const none = new FakeRes()
  const on = new Output(none, fakeReq())
  on.start(200, [], null)
  await new Promise((resolve) => setTimeout(resolve, 700))
  t.match(quiet.body, /event: ping/, 'a silent stream at a boundary is pinged')
  t.notMatch(mid.body, /event: ping/, 'never inside an event')
  t.notMatch(none.body, /event: ping/, 'never for a stream that did not ask')
  oq.unping()
  om.unping()
  const n = quiet.body.length
  await new Promise((resolve) => setTimeout(resolve, 400))
  t.equal(quiet.body.length, n, 'no ping after the request ended')
})

t.test('UpstreamLink: undici\'s current interface in, attempt events out', async (t) => {
  const seen: string[] = []
  let allow = true
  const a: AttemptEvents = {
    started: () => { seen.push('start'); return allow },
    headers: (s, h) => { seen.push(`headers ${s} ${String(h['content-type'])}`) },
    data: (c) => { seen.push(`data ${c.toString()}`) },
    complete: () => { seen.push('end') },
    failed: (e) => { seen.push(`error ${e.message}`) },
  }
  const l = new UpstreamLink(a)
  const c = new FakeController()
  l.onRequestStart(c)
  l.onResponseStart(c, 200, { 'content-type': 'text/event-stream' })
  l.onResponseData(c, Buffer.from('abc'))
  l.onResponseEnd()
  l.onResponseError(c, new Error('reset'))
  t.same(seen, ['start', 'headers 200 text/event-stream', 'data abc', 'end', 'error reset'])
  allow = false
  const c2 = new FakeController()
  l.onRequestStart(c2)
  t.equal(c2.aborted, true, 'a request whose client already left is aborted at once')
  t.same(headerPairs({ a: '1', 'set-cookie': ['x', 'y'], gone: undefined }).map(String), ['a', '1', 'set-cookie', 'x', 'set-cookie', 'y'])
})
