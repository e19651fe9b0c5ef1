import t from 'tap'
import { bucketKey, bucketsAt, resetsAt } from '../../lib/metering/periods.js'

const at = (s: string): number => Date.parse(s)

t.test('bucket keys: day, ISO week, month (UTC)', async (t) => {
  t.equal(bucketKey('daily', at('2026-11-22T23:59:59.999Z')), '2026-11-22')
  t.equal(bucketKey('weekly', at('2026-11-22T12:00:00Z')), '2026-W47', 'Sunday belongs to the week that began on Monday')
  t.equal(bucketKey('weekly', at('2026-11-23T00:00:00Z')), '2026-W48')
  t.equal(bucketKey('weekly', at('2021-01-03T10:00:00Z')), '2020-W53', 'early January can belong to the previous ISO year')
  t.equal(bucketKey('weekly', at('2024-12-30T10:00:00Z')), '2025-W01', 'late December can belong to the next ISO year')
  t.equal(bucketKey('weekly', at('2026-01-05T00:00:00Z')), '2026-W02')
  t.equal(bucketKey('monthly', at('2026-02-28T23:00:00Z')), '2026-02')
  t.equal(bucketKey('daily', at('2026-03-01T00:30:00+01:00')), '2026-02-28', 'UTC, not local time')
})

t.test('resets: next midnight, next Monday, first of next month', async (t) => {
  const sun = at('2026-11-22T15:00:00Z')
  t.equal(new Date(resetsAt('daily', sun)).toISOString(), '2026-11-23T00:00:00.000Z')
  t.equal(new Date(resetsAt('weekly', sun)).toISOString(), '2026-11-23T00:00:00.000Z')
  t.equal(new Date(resetsAt('weekly', at('2026-11-23T00:00:00Z'))).toISOString(), '2026-11-30T00:00:00.000Z', 'Monday resets the Monday after')
  t.equal(new Date(resetsAt('monthly', at('2026-12-31T23:59:59Z'))).toISOString(), '2027-01-01T00:00:00.000Z')
})

t.test('bucketsAt caches one day and moves on at midnight', async (t) => {
  const a = bucketsAt(at('2026-03-31T23:59:59Z'))
  t.same(a.keys, ['2026-03-31', '2026-W14', '2026-03'])
  t.equal(bucketsAt(at('2026-03-31T01:00:00Z')), a, 'same day: same object')
  const b = bucketsAt(at('2026-04-01T00:00:00Z'))
  t.same(b.keys, ['2026-04-01', '2026-W14', '2026-04'])
})
