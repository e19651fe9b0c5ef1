/**
 * The order one request tries upstreams when some share a pool: the pool keeps its place in the
 * failover order, a session keeps its member, a cooled member goes last (its sessions move to their
 * next choice, and only its sessions move), a half-open member is probed by one request, and a
 * request without a key goes to the least loaded member.
 */
import t from 'tap'
import { UpstreamPools } from '../../../lib/proxy/pools/index.js'
import type { Candidate } from '../../../lib/proxy/routing.js'
import { prng } from '../../helpers/prng.js'

const NAMES = ['solo', 'a', 'b', 'c', 'backup']
const cands = (idx: number[] = [0, 1, 2, 3, 4]): Candidate[] => idx.map((i) => ({ upstream: i, model: 'm', rewrite: false }))
const pool = { name: 'fleet', members: [{ upstream: 'a', weight: 1 }, { upstream: 'b', weight: 1 }, { upstream: 'c', weight: 1 }], cooldown_seconds: 10, max_cooldown_seconds: 300 }
const names = (cs: readonly Candidate[]): string[] => cs.map((c) => NAMES[c.upstream] as string)
const sessions = (n: number, seed: number): string[] => { const r = prng(seed); return Array.from({ length: n }, () => `s-${Math.floor(r() * 1e12)}`) }

t.test('no pools: ordered failover, untouched', async (t) => {
  t.equal(UpstreamPools.fromConfig(undefined, NAMES), null)
  t.equal(UpstreamPools.fromConfig([], NAMES), null)
})

t.test('the pool keeps its place; each session keeps one member; all three members get sessions', async (t) => {
  const p = UpstreamPools.fromConfig([pool], NAMES) as UpstreamPools
  const seen = new Map<string, number>()
  for (const s of sessions(300, 1)) {
    const one = names(p.plan(cands(), s).candidates)
    t.equal(one[0], 'solo')
    t.equal(one[4], 'backup')
    t.same([...one.slice(1, 4)].sort(), ['a', 'b', 'c'])
    t.same(names(p.plan(cands(), s).candidates), one, 'the same session, the same order')
    seen.set(one[1] as string, (seen.get(one[1] as string) ?? 0) + 1)
  }
  t.same([...seen.keys()].sort(), ['a', 'b', 'c'])
  for (const v of seen.values()) t.ok(v > 60, `each member has a fair share (${v} of 300)`)
  const filtered = names(p.plan(cands([3, 1, 4]), 'x').candidates)
  t.same([...filtered.slice(0, 2)].sort(), ['a', 'c'], 'only the candidates routing left are ordered')
  t.equal(filtered[2], 'backup')
})

t.test('a cooled member: only its sessions move, to their next choice, and come back after a good probe', async (t) => {
  let now = 1_000_000
  const p = UpstreamPools.fromConfig([pool], NAMES, () => now) as UpstreamPools
  const keys = sessions(300, 2)
  const before = new Map(keys.map((k) => [k, names(p.plan(cands(), k).candidates)]))
  p.answered(2, 429, [Buffer.from('retry-after'), Buffer.from('30')], 12, false) // b
  t.match(p.snapshot().find((m) => m.upstream === 'b'), { state: 'cooling', cooldownMs: 30_000 })
  for (const k of keys) {
    const was = before.get(k) as string[]
    const now1 = names(p.plan(cands(), k).candidates)
    // Every session now tries b last in the pool; only b's sessions change their first choice.
    t.same(now1, ['solo', ...was.slice(1, 4).filter((x) => x !== 'b'), 'b', 'backup'], 'b tried last')
    if (was[1] !== 'b') t.equal(now1[1], was[1], 'a session not on b keeps its member')
  }
  now += 30_000
  const onB = keys.filter((k) => (before.get(k) as string[])[1] === 'b')
  const first = p.plan(cands(), onB[0] as string)
  t.equal(first.probe, 2, 'the first request of a b-session after the cooldown probes b')
  t.equal(names(first.candidates)[1], 'b')
  const second = p.plan(cands(), onB[1] as string)
  t.equal(second.probe, -1)
  t.not(names(second.candidates)[1], 'b', 'while the probe is out, other b-sessions stay on their next choice')
  p.answered(2, 200, [], 15, true)
  for (const k of onB) t.equal(names(p.plan(cands(), k).candidates)[1], 'b', 'b took its share back')
})

t.test('a lost probe is released when its request ends; a failed probe cools again', async (t) => {
  let now = 0
  const p = UpstreamPools.fromConfig([pool], NAMES, () => now) as UpstreamPools
  const k = sessions(200, 3).find((s) => names(p.plan(cands(), s).candidates)[1] === 'a') as string
  p.failed(1, false)
  now += 10_000
  t.equal(p.plan(cands(), k).probe, 1)
  p.releaseProbe(1)
  const again = p.plan(cands(), k)
  t.equal(again.probe, 1, 'released: the next request probes')
  p.failed(1, true)
  t.match(p.snapshot().find((m) => m.upstream === 'a'), { state: 'cooling', cooldownMs: 20_000 })
})

t.test('without a key: the least loaded member first', async (t) => {
  const p = UpstreamPools.fromConfig([pool], NAMES) as UpstreamPools
  p.begin(1); p.begin(1); p.begin(3)
  t.equal(names(p.plan(cands(), '').candidates)[1], 'b')
  p.begin(2); p.begin(2)
  t.equal(names(p.plan(cands(), '').candidates)[1], 'c')
  p.end(1); p.end(1)
  t.equal(names(p.plan(cands(), '').candidates)[1], 'a')
  t.match(p.snapshot(), [{ upstream: 'a', inFlight: 0 }, { upstream: 'b', inFlight: 2 }, { upstream: 'c', inFlight: 1 }])
})

t.test('home: the session\'s first choice while everything is healthy, kept while it cools', async (t) => {
  let now = 0
  const p = UpstreamPools.fromConfig([pool], NAMES, () => now) as UpstreamPools
  t.equal(p.plan(cands(), 'anyone').home, 0, 'an upstream outside a pool listed first is home')
  const k = sessions(200, 4).find((s) => names(p.plan(cands([1, 2, 3, 4]), s).candidates)[0] === 'b') as string
  t.equal(p.plan(cands([1, 2, 3, 4]), k).home, 2, 'b is home for a b-session')
  p.answered(2, 529, [], 5, false)
  const cooled = p.plan(cands([1, 2, 3, 4]), k)
  t.not(names(cooled.candidates)[0], 'b', 'the session is served elsewhere while b cools')
  t.equal(cooled.home, 2, 'b is still the session\'s home')
  t.equal((UpstreamPools.fromConfig([pool], NAMES) as UpstreamPools).plan(cands([0, 4]), k).home, -1, 'no member among the candidates: -1')
})
