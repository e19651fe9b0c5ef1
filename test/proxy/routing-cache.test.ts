/**
 * lib/proxy/routing.ts: the per-model resolution cache is bounded, and a flood of distinct model
 * strings evicts the oldest entries — never a model in steady use (it used to clear the whole
 * table when full, so every model was resolved again after each flood).
 */
import t from 'tap'
import { ModelRouter } from '../../lib/proxy/routing.js'

const router = (): ModelRouter => new ModelRouter(
  [{ id: 'corp-model', upstream_model: { an: 'corp-deployment' } }],
  true,
  [{ name: 'an', provider: 'anthropic' }],
)

t.test('a model in steady use keeps its resolution through a flood of distinct models', async (t) => {
  const r = router()
  const hot = r.resolve('claude-haiku-4-5')
  const corp = r.resolve('corp-model')
  t.same(hot.candidates, [{ upstream: 0, model: 'claude-haiku-4-5', rewrite: false }])
  for (let i = 0; i < 10_000; i++) {
    r.resolve(`flood-${i}`)
    if (i % 100 === 0) {
      t.equal(r.resolve('claude-haiku-4-5'), hot, `hot model still cached after ${i} new models`)
      t.equal(r.resolve('corp-model'), corp, `configured model still cached after ${i} new models`)
    }
  }
  t.equal(r.resolve('claude-haiku-4-5'), hot, 'still the same resolution at the end')
})

t.test('an evicted model resolves again, to the same answer', async (t) => {
  const r = router()
  const first = r.resolve('flood-first')
  t.equal(first.candidates.length, 0)
  for (let i = 0; i < 10_000; i++) r.resolve(`flood-${i}`)
  const again = r.resolve('flood-first')
  t.not(again, first, 'the oldest unused entry was evicted (a new object)')
  t.same(again, first, 'recomputed to an equal resolution')
})
