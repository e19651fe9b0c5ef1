import t from 'tap'
import { CapBook, type CapRow } from '../../lib/spend/caps.js'

const row = (id: string, scope_type: CapRow['scope_type'], scope_id: string, amount: string | null, period: CapRow['period'] = 'monthly', pool?: string): CapRow =>
  ({ id, scope_type, scope_id, amount, period, pooled_limit_enabled: pool !== undefined, pooled_monthly_credit_limit: pool ?? null })

const ROWS: CapRow[] = [
  row('spl_org', 'organization', '', '5000'),
  row('spl_eng', 'rbac_group', 'eng', '3000'),
  row('spl_ops', 'rbac_group', 'ops', '8000'),
  row('spl_free', 'rbac_group', 'free', null),
  row('spl_alice', 'user', 'alice', null),
  row('spl_bob_d', 'user', 'bob', '100', 'daily'),
  row('spl_org_w', 'organization', '', '2000', 'weekly'),
]
const book = new CapBook(ROWS, 1)
const monthly = (sub: string, groups: string[], mode: 'min' | 'max'): string | null | undefined => {
  const r = book.resolve(sub, groups, { mode }).byPeriod[2]?.row
  return r === null ? undefined : r?.id
}

t.test('precedence: user, then groups, then organization', async (t) => {
  t.equal(monthly('alice', ['eng'], 'min'), 'spl_alice', 'a user row wins even when unlimited')
  t.same(book.resolve('alice', ['eng'], { mode: 'min' }).caps.map((c) => c.period), ['weekly'], 'so alice is uncapped monthly')
  t.equal(monthly('carol', ['eng', 'ops'], 'min'), 'spl_eng', 'min: the smallest group cap')
  t.equal(monthly('carol', ['eng', 'ops'], 'max'), 'spl_ops', 'max: the largest group cap')
  t.equal(monthly('carol', ['eng', 'free'], 'min'), 'spl_eng', 'min: a number beats unlimited')
  t.equal(monthly('carol', ['eng', 'free'], 'max'), 'spl_free', 'max: unlimited beats a number')
  t.equal(monthly('carol', ['free'], 'min'), 'spl_free', 'an unlimited group row still shadows the organization')
  t.equal(monthly('carol', ['nobody'], 'min'), 'spl_org', 'the organization default')
  const bob = book.resolve('bob', [], { mode: 'min' })
  t.same(bob.caps.map((c) => [c.period, c.cents, c.scope]), [['daily', 100, 'user'], ['weekly', 2000, 'organization'], ['monthly', 5000, 'organization']])
  t.ok(new CapBook([], 2).empty)
})

t.test('ties break by id', async (t) => {
  const b = new CapBook([row('spl_b', 'rbac_group', 'x', '10'), row('spl_a', 'rbac_group', 'y', '10')])
  t.equal(b.resolve('u', ['x', 'y'], { mode: 'min' }).caps[0]?.limitId, 'spl_a')
})

t.test('pools: largest first by default, or the priority list', async (t) => {
  const b = new CapBook([
    row('spl_1', 'rbac_group', 'a', '100', 'monthly', '1000'),
    row('spl_2', 'rbac_group', 'b', '100', 'monthly', '5000'),
    row('spl_3', 'rbac_group', 'c', '100', 'monthly', '5000'),
    { ...row('spl_4', 'rbac_group', 'd', '100', 'monthly', '9000'), pooled_limit_enabled: false },
  ])
  t.same(b.resolve('u', ['a', 'b', 'c', 'd'], { mode: 'min' }).pools.map((p) => p.group), ['b', 'c', 'a'], 'paused pools are skipped; ties by name')
  t.same(b.resolve('u', ['a', 'b', 'c'], { mode: 'min', priority: ['a', 'c'] }).pools.map((p) => p.group), ['a', 'c', 'b'])
})
