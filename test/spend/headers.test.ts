import t from 'tap'
import { binding, blockedMessage, limitHeaders, uncappedUsageBody, usageBody, type CapState } from '../../lib/spend/headers.js'

const NOW = Date.parse('2026-08-07T13:30:00Z')
const s = (period: CapState['period'], capCents: number, spentCents: number, resetsAt: string, scope = 'user'): CapState =>
  ({ period, capCents, spentCents, scope, resetsAt: Date.parse(resetsAt) })

t.test('success headers, with the warning thresholds', async (t) => {
  t.same(limitHeaders(s('monthly', 50000, 27140, '2026-09-01T00:00:00Z'), NOW), {
    'anthropic-ratelimit-unified-status': 'allowed',
    'anthropic-ratelimit-unified-reset': '1788220800',
    'anthropic-ratelimit-unified-overage-reset': '1788220800',
    'anthropic-ratelimit-unified-overage-utilization': '0.54',
    'anthropic-ratelimit-unified-representative-claim': 'overage',
    'anthropic-ratelimit-unified-overage-status': 'allowed',
  })
  const warn = limitHeaders(s('daily', 100, 82, '2026-08-08T00:00:00Z'), NOW)
  t.equal(warn['anthropic-ratelimit-unified-status'], 'allowed_warning')
  t.equal(warn['anthropic-ratelimit-unified-overage-surpassed-threshold'], '0.75')
  const near = limitHeaders(s('daily', 100, 99.99, '2026-08-08T00:00:00Z'), NOW)
  t.equal(near['anthropic-ratelimit-unified-overage-surpassed-threshold'], '0.95')
  t.equal(near['anthropic-ratelimit-unified-overage-utilization'], '0.99', 'kept below 1 while allowed')
})

t.test('a threshold is surpassed once spend reaches it (inclusive, as the spend alerts count)', async (t) => {
  const at75 = limitHeaders(s('daily', 4, 3, '2026-08-08T00:00:00Z'), NOW)
  t.equal(at75['anthropic-ratelimit-unified-status'], 'allowed_warning')
  t.equal(at75['anthropic-ratelimit-unified-overage-surpassed-threshold'], '0.75')
  const at95 = limitHeaders(s('daily', 20, 19, '2026-08-08T00:00:00Z'), NOW)
  t.equal(at95['anthropic-ratelimit-unified-overage-surpassed-threshold'], '0.95')
  const under = limitHeaders(s('daily', 4, 2.99, '2026-08-08T00:00:00Z'), NOW)
  t.equal(under['anthropic-ratelimit-unified-status'], 'allowed')
  t.equal(under['anthropic-ratelimit-unified-overage-surpassed-threshold'], undefined)
})

t.test('the 429 set: no representative-claim or overage-status', async (t) => {
  t.same(limitHeaders(s('daily', 1000, 1234, '2026-08-08T00:00:00Z'), NOW), {
    'anthropic-ratelimit-unified-status': 'rejected',
    'anthropic-ratelimit-unified-reset': '1786147200',
    'anthropic-ratelimit-unified-overage-reset': '1786147200',
    'anthropic-ratelimit-unified-overage-utilization': '1.23',
    'anthropic-ratelimit-unified-overage-surpassed-threshold': '1',
    'anthropic-ratelimit-unified-overage-period': 'daily',
    'anthropic-ratelimit-unified-overage-disabled-reason': 'org_spend_cap_reached',
    'retry-after': '37800',
  })
  const pool = limitHeaders(s('monthly', 0, 0, '2026-09-01T00:00:00Z', 'group_pool'), NOW)
  t.equal(pool['anthropic-ratelimit-unified-overage-scope'], 'group_pool')
  t.equal(pool['anthropic-ratelimit-unified-overage-utilization'], '1', 'a zero cap is fully used')
})

t.test('messages', async (t) => {
  t.equal(blockedMessage(s('daily', 1000, 1000, '2026-08-08T00:00:00Z'), undefined), 'spend limit reached · resets Aug 8')
  t.equal(blockedMessage(s('daily', 1000, 1000, '2026-08-08T00:00:00Z'), 'request an increase at https://go.corp.example.com/claude-limits'),
    'spend limit reached · resets Aug 8 · request an increase at https://go.corp.example.com/claude-limits')
  t.equal(blockedMessage(s('daily', 0, 0, '2026-08-08T00:00:00Z'), 'ask finops'), 'spend limit reached · ask finops')
  t.match(blockedMessage(s('monthly', 500, 500, '2026-09-01T00:00:00Z', 'group_pool'), undefined), /group's shared budget .* resets Sep 1 00:00 UTC/)
})

t.test('binding: exceeded first, then the one resetting last; else the fullest', async (t) => {
  const d = s('daily', 100, 100, '2026-08-08T00:00:00Z')
  const m = s('monthly', 100, 150, '2026-09-01T00:00:00Z')
  const w = s('weekly', 100, 90, '2026-08-10T00:00:00Z')
  t.equal(binding([d, w, m]), m)
  t.equal(binding([s('daily', 100, 10, '2026-08-08T00:00:00Z'), w]), w)
  t.equal(binding([]), null)
})

t.test('/api/oauth/usage bodies', async (t) => {
  const d = s('daily', 1000, 500, '2026-08-08T00:00:00Z')
  const m = s('monthly', 50000, 27140.7, '2026-09-01T00:00:00Z')
  t.same(usageBody([d, m]), {
    extra_usage: { is_enabled: true, monthly_limit: 50000, used_credits: 27140, utilization: 54, currency: 'USD' },
    limits: [
      { kind: 'spend', group: 'daily', percent: 50, resets_at: '2026-08-08T00:00:00.000Z', severity: 'normal', is_active: false },
      { kind: 'spend', group: 'monthly', percent: 54, resets_at: '2026-09-01T00:00:00.000Z', severity: 'normal', is_active: true },
    ],
  })
  t.equal((usageBody([s('daily', 100, 100, '2026-08-08T00:00:00Z')]).limits as Array<{ severity: string }>)[0]?.severity, 'critical')
  t.same(uncappedUsageBody(12.9, 40, 1240.5), {
    extra_usage: { is_enabled: true, monthly_limit: null, used_credits: 1240, utilization: null, currency: 'USD', daily: { limit: null, used_credits: 12, utilization: null }, weekly: { limit: null, used_credits: 40, utilization: null } },
    limits: [],
  })
})
