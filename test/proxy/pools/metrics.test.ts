/**
 * Pool state in Weir's metrics: a member cooling down and coming back are counted by pool,
 * upstream and event, and input-side tokens are counted by the upstream that served them (the
 * cache-hit ratio per upstream), through the worker recorder and the primary's registry.
 */
import t from 'tap'
import { UpstreamPools } from '../../../lib/proxy/pools/index.js'
import { type MetricsSnapshot, disableRecorder, enableRecorder, recordUpstreamTokens, takeSnapshot } from '../../../lib/telemetry/metrics.js'
import { MetricsRegistry } from '../../../lib/telemetry/registry.js'

t.test('cooldowns, recoveries and tokens per upstream reach the registry', async (t) => {
  enableRecorder(60_000)
  t.teardown(() => disableRecorder())
  takeSnapshot()
  let now = 0
  const pools = UpstreamPools.fromConfig([{ name: 'fleet', members: [{ upstream: 'a', weight: 1 }, { upstream: 'b', weight: 1 }], cooldown_seconds: 5, max_cooldown_seconds: 60 }], ['a', 'b'], () => now) as UpstreamPools
  pools.answered(0, 529, [], 10, false)
  pools.answered(0, 529, [], 10, false) // already cooling: not another event
  now += 5000
  const cands = [{ upstream: 0, model: 'm', rewrite: false }, { upstream: 1, model: 'm', rewrite: false }]
  // The first session that prefers a after its cooldown takes the probe.
  let plan = pools.plan(cands, 'key-0')
  for (let i = 1; plan.probe !== 0 && i < 50; i++) plan = pools.plan(cands, `key-${i}`)
  t.equal(plan.probe, 0, 'some session probes a')
  pools.answered(0, 200, [], 10, true)
  pools.failed(1, false)
  recordUpstreamTokens('a', 10, 900, 100)
  recordUpstreamTokens('a', 5, 0, 0)
  const snap = takeSnapshot() as MetricsSnapshot
  t.same(snap.poolEvents?.sort((x, y) => (x.upstream + x.event).localeCompare(y.upstream + y.event)), [
    { pool: 'fleet', upstream: 'a', event: 'cooldown', count: 1 },
    { pool: 'fleet', upstream: 'a', event: 'recovered', count: 1 },
    { pool: 'fleet', upstream: 'b', event: 'cooldown', count: 1 },
  ])
  t.same(snap.upstreamTokens, [{ upstream: 'a', input: 15, cacheRead: 900, cacheWrite: 100 }])
  const reg = new MetricsRegistry()
  reg.merge(snap)
  t.equal(reg.poolEvents.get(['fleet', 'a', 'cooldown']), 1)
  t.equal(reg.upstreamTokens.get(['a', 'cache_read']), 900)
  t.equal(reg.upstreamTokens.get(['a', 'input']), 15)
})
