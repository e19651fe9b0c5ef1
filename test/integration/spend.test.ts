/**
 * Spend caps through a real gateway over sockets: usage headers, the 429, /api/oauth/usage,
 * count_tokens exempt, and caps that hold under 50 concurrent streams and across two Weir
 * instances sharing one database.
 */
import t, { type Test } from 'tap'
import postgres from 'postgres'
import { bucketKey } from '../../lib/metering/periods.js'
import { startReplica } from '../auth/helpers/replica.js'
import { baseConfig } from '../helpers/gateway.js'
import type { Res } from '../helpers/http.js'
import { BODY, MODEL, bearer, eventually, oneCentUpstream, post, setCap, spendConfig, spendGateway, usage } from './spend-helpers.js'

// Two gateways and a replica process with 2 workers each: on a loaded 2-core machine the file needs
// more than the default 180 s. Only a hang guard; nothing here asserts time.
t.setTimeout(420_000)

const today = (): string => bucketKey('daily', Date.now())

async function spentMicro (dbUrl: string, sub: string, bucket: string): Promise<number> {
  const sql = postgres(dbUrl, { max: 1, onnotice: () => {} })
  try {
    const [r] = await sql`select micro_cents::text as m from spend where principal = ${sub} and period = ${bucket}`
    return Number(r?.m ?? 0)
  } finally { await sql.end({ timeout: 1 }) }
}

t.test('under the cap: usage headers; at the cap: the billing 429; /api/oauth/usage agrees', async (t) => {
  const fake = await oneCentUpstream(t)
  const { url, dbUrl } = await spendGateway(t, fake, {}, (c) => { c.admin.blocked_message = 'request more at https://go.example/limits' })
  const alice = bearer('u-alice', ['eng'])
  const before = await usage(url, alice)
  t.same(before.json(), {
    extra_usage: { is_enabled: true, monthly_limit: null, used_credits: 0, utilization: null, currency: 'USD', daily: { limit: null, used_credits: 0, utilization: null }, weekly: { limit: null, used_credits: 0, utilization: null } },
    limits: [],
  }, 'uncapped: spend only')
  t.equal(before.headers['cache-control'], 'no-store')
  const uncapped = await post(url, alice)
  t.equal(uncapped.status, 200)
  t.equal(uncapped.headers['anthropic-ratelimit-unified-status'], undefined, 'no usage headers without a cap')
  await eventually(async () => await spentMicro(dbUrl, 'u-alice', today()) === 1_000_000, 'the uncapped request metered')

  await setCap(url, alice, { scope: { type: 'user', user_id: 'u-alice' }, amount: '5', period: 'daily' })
  const ok = await post(url, alice)
  t.equal(ok.status, 200)
  // The headers count the request's own cost (its input side, known from message_start): the
  // request that crosses a threshold is the one that reports it.
  t.match(ok.headers, { 'anthropic-ratelimit-unified-status': 'allowed', 'anthropic-ratelimit-unified-overage-utilization': '0.4', 'anthropic-ratelimit-unified-representative-claim': 'overage' })
  const below = await post(url, alice)
  t.equal(below.headers['anthropic-ratelimit-unified-status'], 'allowed', '3 of 5 cents with this request: below 75%')
  t.equal(below.headers['anthropic-ratelimit-unified-overage-surpassed-threshold'], undefined)
  const warn = await post(url, alice)
  t.equal(warn.headers['anthropic-ratelimit-unified-status'], 'allowed_warning', '3 of 5 cents before it, 4 with it: this request crossed 75%')
  t.equal(warn.headers['anthropic-ratelimit-unified-overage-surpassed-threshold'], '0.75')
  const last = await post(url, alice)
  t.equal(last.headers['anthropic-ratelimit-unified-status'], 'allowed_warning', 'this request reached the cap: still allowed, it was admitted')
  t.equal(last.headers['anthropic-ratelimit-unified-overage-surpassed-threshold'], '0.95', 'and it is the one that reports 95%')
  const blocked = await post(url, alice)
  t.equal(blocked.status, 429)
  const reset = String(Date.parse(new Date(Date.now() + 86_400_000).toISOString().slice(0, 10)) / 1000)
  t.match(blocked.headers, {
    'anthropic-ratelimit-unified-status': 'rejected',
    'anthropic-ratelimit-unified-reset': reset,
    'anthropic-ratelimit-unified-overage-reset': reset,
    'anthropic-ratelimit-unified-overage-utilization': '1',
    'anthropic-ratelimit-unified-overage-surpassed-threshold': '1',
    'anthropic-ratelimit-unified-overage-period': 'daily',
    'anthropic-ratelimit-unified-overage-disabled-reason': 'org_spend_cap_reached',
    'x-should-retry': 'false',
  })
  t.ok(Number(blocked.headers['retry-after']) >= 1)
  t.equal(blocked.headers['anthropic-ratelimit-unified-representative-claim'], undefined)
  t.equal(blocked.headers['anthropic-ratelimit-unified-overage-status'], undefined)
  const body = blocked.json() as { type: string, error: { type: string, message: string } }
  t.equal(body.error.type, 'billing_error')
  t.match(body.error.message, /^spend limit reached · resets [A-Z][a-z]{2} \d{1,2} · request more at https:\/\/go\.example\/limits$/)
  t.equal(fake.requests.filter((r) => r.url === '/v1/messages').length, 5, 'the refused request never reached the upstream')

  const counted = await post(url, alice, JSON.stringify({ model: MODEL, messages: [{ role: 'user', content: 'hi' }] }), '/v1/messages/count_tokens')
  t.equal(counted.status, 200, 'count_tokens is never checked')
  // /api/oauth/usage answers are cached for 2 s per developer, as the reference does.
  const u = await eventually(async () => { const r = await usage(url, alice); return r.json().extra_usage.used_credits === 5 ? r : null }, 'usage to catch up') as Res
  const daily = (u.json() as { limits: Array<{ group: string, percent: number, resets_at: string, severity: string, is_active: boolean }> }).limits[0]
  t.match(u.json(), { extra_usage: { is_enabled: true, monthly_limit: 5, used_credits: 5, utilization: 100, currency: 'USD' } })
  t.match(daily, { group: 'daily', percent: 100, severity: 'critical', is_active: true })
  t.equal(String(Date.parse(daily?.resets_at ?? '') / 1000), reset, 'the same instant as the reset header')
  t.equal(await spentMicro(dbUrl, 'u-alice', today()), 5_000_000, 'one uncapped cent and four capped: exactly the 5-cent cap')
})

/**
 * What a burst of concurrent requests against a cap must show, whatever the machine's speed:
 *   - never over the cap by more than one request (each costs one cent);
 *   - every refusal is the billing 429, never an error;
 *   - the ledger is exact: spent is what the served requests cost;
 *   - a request refused below the cap was refused only because the rest of the budget was held
 *     by other requests' worst-case reservations and leases (the lease slack) at that moment, so
 *     nothing is lost: one request at a time afterwards tops the spend up to the cap exactly.
 * How many of the burst get through before the slack is settled depends on wall-clock timing
 * (a loaded machine can wait out the contention deadline), so no exact count is asserted.
 */
async function assertCapHeld (t: Test, results: Res[], capCents: number, send: () => Promise<Res>, spent: () => Promise<number>): Promise<void> {
  const served = results.filter((r) => r.status === 200).length
  const refused = results.filter((r) => r.status !== 200)
  t.ok(served <= capCents + 1, `never over the cap by more than one request (${served} of ${results.length} served, cap ${capCents})`)
  t.ok(served > 0, 'the burst made progress')
  t.ok(refused.every((r) => r.status === 429 && r.headers['anthropic-ratelimit-unified-status'] === 'rejected'), 'every refusal is the billing 429')
  const m = await eventually(async () => { const v = await spent(); return v >= served * 1_000_000 ? v : 0 }, 'all metered')
  t.equal(m, served * 1_000_000, 'the ledger is exact: one cent per served request')
  // top up, one request at a time: a refusal while below the cap only waits for leases to settle
  let more = 0
  for (let i = 0; i < 4 * capCents; i++) {
    const r = await send()
    if (r.status === 200) { more++; continue }
    t.equal(r.status, 429)
    await eventually(async () => { const v = await spent(); return v >= (served + more) * 1_000_000 ? v : 0 }, 'top-up metered')
    if (await spent() >= capCents * 1_000_000) break
    await new Promise((resolve) => setTimeout(resolve, 250))
  }
  const total = await eventually(async () => { const v = await spent(); return v >= (served + more) * 1_000_000 ? v : 0 }, 'all metered')
  t.ok(total >= capCents * 1_000_000 && total <= (capCents + 1) * 1_000_000, `the whole budget was usable and not overshot by more than one request (${total / 1e6} cents of ${capCents})`)
  t.equal(total, (served + more) * 1_000_000, 'the ledger is exact after the top-up too')
}

t.test('50 concurrent streams never overshoot the cap, and lose none of it', async (t) => {
  const fake = await oneCentUpstream(t, 2)
  const { url, dbUrl } = await spendGateway(t, fake, { workers: 2 })
  const bob = bearer('u-bob')
  await setCap(url, bob, { scope: { type: 'user', user_id: 'u-bob' }, amount: '30', period: 'daily' })
  const results = await Promise.all(Array.from({ length: 50 }, async () => await post(url, bob, BODY)))
  await assertCapHeld(t, results, 30, async () => await post(url, bob, BODY), async () => await spentMicro(dbUrl, 'u-bob', today()))
})

t.test('two Weir instances sharing one database hold one cap together', async (t) => {
  const fake = await oneCentUpstream(t, 2)
  const a = await spendGateway(t, fake, { workers: 2 })
  // The second replica is its own `weir serve` process, as a second pod would be.
  const b = await startReplica(t, spendConfig(baseConfig(a.idp.issuer, a.dbUrl), fake), { workers: 2 })
  const carol = bearer('u-carol')
  await setCap(a.url, carol, { scope: { type: 'user', user_id: 'u-carol' }, amount: '20', period: 'daily' })
  await eventually(async () => (await usage(b.url, carol)).json().limits.length > 0, 'replica b sees the cap')
  const results = await Promise.all(Array.from({ length: 40 }, async (_, i) => await post(i % 2 === 0 ? a.url : b.url, carol, BODY)))
  let i = 0
  await assertCapHeld(t, results, 20, async () => await post(i++ % 2 === 0 ? a.url : b.url, carol, BODY), async () => await spentMicro(a.dbUrl, 'u-carol', today()))
})
