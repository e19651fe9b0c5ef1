/**
 * lib/http/generations.ts without sockets: requests stay on the generation they started on, a
 * retired generation's resources close only after its last request, and a resource shared by
 * several generations closes once, after the last of them.
 */
import t from 'tap'
import { type Build, Generations, type Owned } from '../../lib/http/generations.js'

type Track = { start: () => void, end: () => void }

/** A generation whose handler records its name and hands the test its tracker. */
function gen (name: string, served: string[], owned: Owned[], trackers: Record<string, Track>): Build {
  return (track) => {
    trackers[name] = track
    return { handler: () => { served.push(name); track.start() }, owned }
  }
}

t.test('swap between requests; close after the last request of a retired generation', async (t) => {
  const served: string[] = []
  const closed: string[] = []
  const trackers: Record<string, Track> = {}
  const shared: Owned = { key: {}, close: () => { closed.push('shared') } }
  const own = (n: string): Owned => ({ key: {}, close: () => { closed.push(n) } })
  const g = new Generations(gen('one', served, [own('one'), shared], trackers))
  const h = g.handler as unknown as () => void
  h(); h()
  t.equal(g.inflight, 2)
  g.swap(gen('two', served, [own('two'), shared], trackers), 2)
  t.equal(g.generation, 2)
  h()
  t.same(served, ['one', 'one', 'two'], 'requests after the swap go to the new generation')
  t.same(closed, [], 'nothing closes while generation one has requests open')
  trackers.one?.end()
  t.same(closed, [])
  trackers.one?.end()
  t.same(closed, ['one'], "generation one's own resource closes after its last request; the shared one stays")
  g.swap(gen('three', served, [own('three')], trackers), 3)
  t.same(closed, ['one'], 'generation two still has a request open')
  let idle = 0
  g.onIdle(() => { idle++ })
  trackers.two?.end()
  t.same(closed, ['one', 'two', 'shared'], 'the shared resource closes with the last generation holding it')
  t.equal(g.inflight, 0)
  t.equal(idle, 1, 'drain is told when nothing is in flight')
})

t.test('a build that throws leaves the current generation serving', async (t) => {
  const served: string[] = []
  const trackers: Record<string, Track> = {}
  const g = new Generations(gen('one', served, [], trackers))
  t.throws(() => { g.swap(() => { throw new Error('bad') }, 2) })
  ;(g.handler as unknown as () => void)()
  t.same(served, ['one'])
  t.equal(g.generation, 1)
})
