/**
 * Pool state as JSON (lib/proxy/pools/report.ts), from the registry the workers' snapshots feed:
 * configured and actual share, cooldowns, failed probes, recoveries, how many workers keep a
 * member out now, and the cache-hit ratio — with real health transitions recorded by
 * UpstreamPools, not hand-written counts.
 */
import t from 'tap'
import { UpstreamPools } from '../../../lib/proxy/pools/index.js'
import { poolReport } from '../../../lib/proxy/pools/report.js'
import { type MetricsSnapshot, disableRecorder, enableRecorder, recordRequest, recordUpstreamTokens, takeSnapshot } from '../../../lib/telemetry/metrics.js'
import { MetricsRegistry } from '../../../lib/telemetry/registry.js'

const POOL = { name: 'fleet', members: [{ upstream: 'a', weight: 2 }, { upstream: 'b', weight: 1 }, { upstream: 'c', weight: 1 }], cooldown_seconds: 5, max_cooldown_seconds: 60 }
const cands = [0, 1, 2].map((upstream) => ({ upstream, model: 'm', rewrite: false }))

t.test('shares, cooldowns, members out and cache-hit ratio per member', async (t) => {
  enableRecorder(60_000)
  t.teardown(() => disableRecorder())
  takeSnapshot()
  const reg = new MetricsRegistry()
  t.same(poolReport(reg, undefined), [], 'no pools: nothing')
  const empty = poolReport(reg, [POOL])[0]
  t.same(empty?.members.map((m) => [m.upstream, m.configuredShare, m.share, m.cacheHitRatio, m.out]), [['a', 0.5, null, null, 0], ['b', 0.25, null, null, 0], ['c', 0.25, null, null, 0]], 'nothing served yet: null ratios, not NaN')

  // Two workers' worth of health: on worker 1, b cools, fails its probe, and recovers; on worker 2, c cools and stays out.
  let now = 1_000_000
  const w1 = UpstreamPools.fromConfig([POOL], ['a', 'b', 'c'], () => now) as UpstreamPools
  const w2 = UpstreamPools.fromConfig([POOL], ['a', 'b', 'c'], () => now) as UpstreamPools
  w1.answered(1, 429, [], 5, false)
  w2.answered(2, 503, [], 5, false)
  now += 5000
  const probeOf = (p: UpstreamPools, i: number): void => {
    for (let k = 0; k < 200; k++) if (p.plan(cands, `s-${k}`).probe === i) return
    throw new Error('no session probed')
  }
  probeOf(w1, 1)
  w1.failed(1, true) // the probe failed: cooled again (10 s)
  now += 10_000
  probeOf(w1, 1)
  w1.answered(1, 200, [], 5, true)

  for (let i = 0; i < 6; i++) recordRequest('/v1/messages', 200, 10, 'a')
  for (let i = 0; i < 3; i++) recordRequest('/v1/messages', 200, 10, 'b')
  recordRequest('/v1/messages', 429, 10, 'c')
  recordRequest('/v1/messages', 200, 10, 'solo')
  recordUpstreamTokens('a', 100, 800, 100)
  recordUpstreamTokens('b', 50, 0, 50)
  reg.merge(takeSnapshot() as MetricsSnapshot)

  const [fleet] = poolReport(reg, [POOL])
  t.equal(fleet?.name, 'fleet')
  const by = new Map(fleet?.members.map((m) => [m.upstream, m]))
  t.match(by.get('a'), { requests: 6, share: 0.6, cooldowns: 0, out: 0, tokens: { input: 100, cacheRead: 800, cacheWrite: 100 }, cacheHitRatio: 0.8 })
  t.match(by.get('b'), { requests: 3, share: 0.3, cooldowns: 1, probeFailures: 1, recoveries: 1, out: 0, cacheHitRatio: 0 })
  t.match(by.get('c'), { requests: 1, share: 0.1, cooldowns: 1, probeFailures: 0, recoveries: 0, out: 1, cacheHitRatio: null })
  t.equal(JSON.parse(JSON.stringify(poolReport(reg, [POOL]))).length, 1, 'plain JSON')
  t.same(poolReport(reg, [POOL]), poolReport(reg, [POOL]), 'derived only: the same answer twice')
})

t.test('a pools object dropped by a reload gives back the members it kept out', async (t) => {
  enableRecorder(60_000)
  t.teardown(() => disableRecorder())
  takeSnapshot()
  const reg = new MetricsRegistry()
  let now = 1_000_000
  const old = UpstreamPools.fromConfig([POOL], ['a', 'b', 'c'], () => now) as UpstreamPools
  old.answered(1, 429, [], 5, false)
  old.answered(2, 503, [], 5, false)
  now += 5000 // b and c half-open: still out
  old.answered(0, 200, [], 5, false)
  reg.merge(takeSnapshot() as MetricsSnapshot)
  t.same(poolReport(reg, [POOL])[0]?.members.map((m) => m.out), [0, 1, 1], 'b and c out on this worker')
  old.retire()
  reg.merge(takeSnapshot() as MetricsSnapshot)
  const members = poolReport(reg, [POOL])[0]?.members
  t.same(members?.map((m) => [m.upstream, m.cooldowns, m.recoveries, m.out]), [['a', 0, 0, 0], ['b', 1, 1, 0], ['c', 1, 1, 0]], 'each counted as recovered once; a, healthy, not at all')
})
