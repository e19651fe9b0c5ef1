/**
 * lib/cache.ts: the bound holds whatever is set, the oldest entry goes first, and an entry in use
 * survives a flood of new keys.
 */
import t from 'tap'
import { BoundedCache } from '../lib/cache.js'

t.test('never more than max entries; the oldest is evicted first', async (t) => {
  const c = new BoundedCache<string, number>(3)
  for (let i = 0; i < 10; i++) c.set(`k${i}`, i)
  t.equal(c.size, 3)
  t.same([...c.entries()], [['k7', 7], ['k8', 8], ['k9', 9]])
  t.equal(c.get('k0'), undefined)
  t.equal(c.get('k9'), 9)
})

t.test('replacing a key does not evict another', async (t) => {
  const c = new BoundedCache<string, number>(2)
  c.set('a', 1).set('b', 2).set('a', 3)
  t.equal(c.size, 2)
  t.equal(c.get('a'), 3)
  t.equal(c.get('b'), 2)
})

t.test('a key read between floods of new keys stays; unread ones go', async (t) => {
  const c = new BoundedCache<string, string>(100)
  c.set('hot', 'h')
  c.set('cold', 'c')
  for (let round = 0; round < 20; round++) {
    t.equal(c.get('hot'), 'h', `round ${round}`)
    for (let i = 0; i < 50; i++) c.set(`r${round}-${i}`, 'x')
    t.ok(c.size <= 100)
  }
  t.equal(c.get('hot'), 'h')
  t.notOk(c.has('cold'))
})

t.test('falsy values are cached like any other', async (t) => {
  const c = new BoundedCache<string, null | 0 | ''>(4)
  c.set('n', null).set('z', 0).set('e', '')
  t.equal(c.get('n'), null)
  t.equal(c.get('z'), 0)
  t.equal(c.get('e'), '')
  t.ok(c.has('n'))
})

t.test('delete and clear', async (t) => {
  const c = new BoundedCache<number, number>(5)
  for (let i = 0; i < 5; i++) c.set(i, i * i)
  t.equal(c.delete(2), true)
  t.equal(c.delete(2), false)
  t.equal(c.size, 4)
  c.set(7, 49)
  t.equal(c.size, 5, 'a free slot is used before anything is evicted')
  t.ok(c.has(0))
  c.clear()
  t.equal(c.size, 0)
})

t.test('a size that is not a positive integer is refused', async (t) => {
  t.throws(() => new BoundedCache(0), RangeError)
  t.throws(() => new BoundedCache(1.5), RangeError)
  t.throws(() => new BoundedCache(Number.NaN), RangeError)
  const one = new BoundedCache<string, number>(1)
  one.set('a', 1).set('b', 2)
  t.same([...one.entries()], [['b', 2]])
})
