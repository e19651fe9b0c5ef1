/**
 * Weighted rendezvous hashing: deterministic, shares follow weights, and removing or adding one
 * member moves only the keys whose first choice it is (property test over seeded random pools).
 */
import t from 'tap'
import { type Member, member, rank } from '../../../lib/proxy/pools/rendezvous.js'
import { prng } from '../../helpers/prng.js'

const keyOf = (rand: () => number): string => `${Math.floor(rand() * 2 ** 32).toString(16)}-${Math.floor(rand() * 2 ** 32).toString(16)}-session`
const first = (key: string, ms: readonly Member[]): string => (ms[rank(key, ms)[0] as number] as Member).name

t.test('the ranking depends on the key and the members, not on their listed order', async (t) => {
  const ms = ['a', 'b', 'c', 'd'].map((n) => member(n, 1))
  const rev = [...ms].reverse()
  const rand = prng(7)
  for (let i = 0; i < 500; i++) {
    const k = keyOf(rand)
    const one = rank(k, ms).map((x) => (ms[x] as Member).name)
    const two = rank(k, rev).map((x) => (rev[x] as Member).name)
    if (one.join() !== two.join()) { t.fail(`key ${k} ranks differently by listed order`); return }
    t.equal(new Set(one).size, 4)
  }
  t.same(rank('same-key', ms), rank('same-key', ms.map((m) => member(m.name, m.weight))), 'recomputed members rank the same')
})

t.test('shares follow the weights', async (t) => {
  const rand = prng(11)
  const cases: number[][] = [[1, 1, 1], [2, 1, 1], [5, 3, 1, 1], [0.5, 1.5]]
  const N = 30_000
  for (const weights of cases) {
    const ms = weights.map((w, i) => member(`up-${i}`, w))
    const total = weights.reduce((a, b) => a + b, 0)
    const hits = new Map<string, number>()
    for (let i = 0; i < N; i++) { const f = first(keyOf(rand), ms); hits.set(f, (hits.get(f) ?? 0) + 1) }
    weights.forEach((w, i) => {
      const share = (hits.get(`up-${i}`) ?? 0) / N
      // 30k samples: the standard error of a share is under 0.3 points; allow 1.5 points.
      t.ok(Math.abs(share - w / total) < 0.015, `weights ${weights.join(':')}: member ${i} has ${(100 * share).toFixed(1)}% (expected ${(100 * w / total).toFixed(1)}%)`)
    })
  }
})

t.test('removing one of N moves exactly that member\'s keys, each to its second choice (seeded property test)', async (t) => {
  const rand = prng(20261207)
  for (let trial = 0; trial < 25; trial++) {
    const n = 2 + Math.floor(rand() * 7)
    const ms = Array.from({ length: n }, (_, i) => member(`u${trial}-${i}-${Math.floor(rand() * 1e6)}`, 0.25 + rand() * 4))
    const gone = Math.floor(rand() * n)
    const left = ms.filter((_, i) => i !== gone)
    const goneName = (ms[gone] as Member).name
    let moved = 0
    let bad = 0
    const keys = 2000
    for (let i = 0; i < keys; i++) {
      const k = keyOf(rand)
      const before = rank(k, ms).map((x) => (ms[x] as Member).name)
      const after = first(k, left)
      if (before[0] === goneName) {
        moved++
        if (after !== before[1]) bad++
      } else if (after !== before[0]) bad++
    }
    if (bad > 0) t.fail(`trial ${trial}: ${bad} keys moved that did not prefer the removed member`)
    const total = ms.reduce((a, m) => a + m.weight, 0)
    const expected = (ms[gone] as Member).weight / total
    // The moved share is the removed member's share (binomial, 2000 keys: allow 5 points).
    t.ok(Math.abs(moved / keys - expected) < 0.05, `trial ${trial}: ${(100 * moved / keys).toFixed(1)}% moved, its weight share is ${(100 * expected).toFixed(1)}%`)
    // Adding it back is the same change the other way round.
    for (let i = 0; i < 200; i++) {
      const k = keyOf(rand)
      const f = first(k, ms)
      if (f !== goneName && f !== first(k, left)) { t.fail(`trial ${trial}: adding a member moved a key to another member`); break }
    }
  }
})

t.test('a weight change moves keys only to or from the member whose weight changed', async (t) => {
  const rand = prng(99)
  const ms = ['x', 'y', 'z'].map((n) => member(n, 1))
  const heavier = [member('x', 3), ms[1] as Member, ms[2] as Member]
  let toX = 0
  for (let i = 0; i < 5000; i++) {
    const k = keyOf(rand)
    const a = first(k, ms)
    const b = first(k, heavier)
    if (a === b) continue
    if (b !== 'x') { t.fail(`key moved from ${a} to ${b}`); return }
    toX++
  }
  t.ok(toX > 0, 'some keys moved to the heavier member')
})
