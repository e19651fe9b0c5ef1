/** Fresh request ids are version 4 UUIDs, distinct, across the refills of the random pool. */
import t from 'tap'
import { newRequestId } from '../../lib/http/request-id.js'

t.test('version 4 UUIDs, lower-case, all distinct over several pool refills', async (t) => {
  const seen = new Set<string>()
  let bad = 0
  const v4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/
  for (let i = 0; i < 1000; i++) {
    const id = newRequestId()
    if (!v4.test(id)) bad++
    seen.add(id)
  }
  t.equal(bad, 0, 'every id has the UUID form with version 4 and the RFC variant')
  t.equal(seen.size, 1000, 'no id repeats (1000 ids span eight draws of the pool)')
  const a = newRequestId()
  t.not(newRequestId(), a, 'an id is a fresh string, not a view of the scratch buffer')
  t.equal(a.length, 36)
  // Every hex digit shows up in every random position over many ids (no stuck nibble).
  const digits = Array.from({ length: 36 }, () => new Set<string>())
  for (let i = 0; i < 2000; i++) { const id = newRequestId(); for (let k = 0; k < 36; k++) digits[k]?.add(id[k] as string) }
  const stuck = digits.map((d, k) => [k, d.size] as const).filter(([k, n]) => ![8, 13, 18, 23, 14, 19].includes(k) && n !== 16)
  t.same(stuck, [], 'random positions take all 16 digits')
  t.equal(digits[19]?.size, 4, 'the variant digit is one of 8, 9, a, b')
})
