/**
 * Pool member health on a test clock: 429/529/5xx and timeouts cool a member down (retry-after
 * honoured, doubling backoff without it, bounded), one half-open probe before it is healthy again,
 * and answers from requests sent before the cooldown change nothing.
 */
import t from 'tap'
import { Health, isHealthFailure, retryAfterMs } from '../../../lib/proxy/pools/health.js'

const opts = { cooldownMs: 10_000, maxCooldownMs: 60_000, probeTimeoutMs: 30_000 }
const hdr = (...kv: string[]): Buffer[] => kv.map((s) => Buffer.from(s))

t.test('which answers cool a member down', async (t) => {
  for (const s of [429, 500, 502, 503, 504, 529]) t.ok(isHealthFailure(s), `${s}`)
  for (const s of [200, 400, 401, 403, 404, 413, 501]) t.notOk(isHealthFailure(s), `${s}`)
})

t.test('retry-after: seconds, an HTTP date, retry-after-ms; junk ignored', async (t) => {
  const now = Date.parse('2026-12-07T10:00:00Z')
  t.equal(retryAfterMs(hdr('Retry-After', '17'), now), 17_000)
  t.equal(retryAfterMs(hdr('retry-after', 'Mon, 07 Dec 2026 10:00:30 GMT'), now), 30_000)
  t.equal(retryAfterMs(hdr('retry-after', '5', 'retry-after-ms', '2500'), now), 2500)
  t.equal(retryAfterMs(hdr('retry-after', 'soon'), now), undefined)
  t.equal(retryAfterMs(hdr('content-type', 'application/json'), now), undefined)
})

t.test('cooldown with retry-after, then one half-open probe, then healthy', async (t) => {
  const h = new Health(opts)
  let now = 1_000_000
  t.equal(h.state(now), 'healthy')
  h.answered(429, now, 20_000, false)
  t.equal(h.state(now), 'cooling')
  t.notOk(h.available(now + 19_999), 'not offered while cooling')
  t.notOk(h.takeProbe(now + 19_999))
  now += 20_000
  t.equal(h.state(now), 'half-open')
  t.ok(h.available(now))
  t.ok(h.takeProbe(now), 'the first request takes the probe')
  t.notOk(h.available(now), 'others wait for the probe')
  t.notOk(h.takeProbe(now), 'one probe at a time')
  h.answered(200, now + 5, undefined, false)
  t.equal(h.state(now + 5), 'half-open', 'an answer to a request sent before the cooldown changes nothing')
  h.answered(200, now + 10, undefined, true)
  t.equal(h.state(now + 10), 'healthy', 'the probe answered well')
  t.ok(h.available(now + 10))
})

t.test('failed probes back off, doubling up to the maximum; retry-after is bounded too', async (t) => {
  const h = new Health(opts)
  let now = 0
  h.failed(now, false)
  t.equal(h.remaining(now), 10_000, 'first cooldown')
  h.answered(503, now + 1, undefined, false)
  t.equal(h.remaining(now + 1), 10_000, 'failures of requests already in flight do not count as another in a row')
  const lengths: number[] = []
  for (let i = 0; i < 5; i++) {
    now += h.remaining(now)
    t.ok(h.takeProbe(now))
    h.answered(529, now, undefined, true)
    lengths.push(h.remaining(now))
  }
  t.same(lengths, [20_000, 40_000, 60_000, 60_000, 60_000])
  now += h.remaining(now)
  t.ok(h.takeProbe(now))
  h.answered(400, now, undefined, true)
  t.equal(h.state(now), 'healthy', 'a 400 is an answer: the member is well')
  h.answered(429, now, 3_600_000, false)
  t.equal(h.remaining(now), 60_000, 'retry-after is capped at the maximum')
  const g = new Health(opts)
  g.answered(429, 0, 0, false)
  t.equal(g.remaining(0), 1000, 'and is at least one second')
})

t.test('a probe that is never sent is released; one that never answers stops blocking', async (t) => {
  const h = new Health(opts)
  h.failed(0, false)
  t.ok(h.takeProbe(10_000))
  h.releaseProbe()
  t.ok(h.takeProbe(10_001), 'released: another request may probe')
  t.notOk(h.available(10_002))
  t.ok(h.available(10_001 + 30_000), 'a probe lost for probeTimeout no longer blocks')
})
