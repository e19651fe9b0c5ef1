/**
 * Spend control on the hot path (one instance per HTTP worker thread), behind the `Accounting`
 * interface of lib/proxy/accounting.ts.
 *
 *   admit   resolves the developer's caps from the in-memory cap table (pushed by the primary at
 *           every change). Uncapped: returns null at once — no lease, no I/O. Capped: reserves the
 *           request's worst case against this thread's budget leases (budget.ts); only when a
 *           lease must be taken or topped up does it wait for the primary (acquire.ts). Over a
 *           cap it throws the 429 `billing_error` with the usage-limit headers.
 *   headers the `anthropic-ratelimit-unified-*` success headers for the binding cap.
 *   outputCheck  while a capped stream runs past its reservation (an upstream ignoring
 *           `max_tokens`), grows each hold from the lease (one lease call at most) so the
 *           reservation keeps covering what streamed; answers 0 — cut the stream — when the cap
 *           is reached. So even a misbehaving upstream passes the cap by one reservation at most.
 *   settle  prices the request (capped ones here, to settle the leases; every one again in the
 *           metering pool for the ledger) and queues a compact usage record for the primary.
 *
 * Store failures: `enforcement.fail_closed_on_error` refuses with the `fetch_error` 429; the
 * default lets the request through unchecked (still metered). A failure marks the store down for
 * a second so a dead database costs each request nothing but a check of a timestamp, and no
 * admission ever waits longer than the pre-check deadline for Postgres.
 *
 * Beside it: which caps bind a principal and its budgets (resolver.ts), the identity notes for the
 * admin API (identity.ts), and the admission object the proxy carries between calls (admission.ts).
 */
import type { Config } from '../config/schema.js'
import { GatewayError } from '../errors.js'
import { onEvent } from '../ipc.js'
import { audit, describeError, ops } from '../log.js'
import type { Accounting, AdmitRequest, Admission, Outcome } from '../proxy/accounting.js'
import type { Principal } from '../session/token.js'
import { recordBlock } from '../telemetry/metrics.js'
import { addUsageRecord, countsOf } from '../metering/records.js'
import { Outbox, type Ship } from '../metering/outbox.js'
import { acquire, releaseHolds, StaleCaps, StoreDown, topUp, type Acquired, type Hold } from './acquire.js'
import type { Budget } from './budget.js'
import type { EffectiveCap, PoolRules, Resolution } from './caps.js'
import { FETCH_ERROR_HEADERS, binding, blockedMessage, limitHeaders, withBlockedMessage, type CapState } from './headers.js'
import { CAPS_EVENT, primaryLink, type CapsMessage, type SpendLink } from './link.js'
import { LeaseKeeper } from './keeper.js'
import { IdentityNotes } from './identity.js'
import { CapResolver } from './resolver.js'
import { SpendAdmission } from './admission.js'
import { meterPricing, Pricer } from '../metering/pricing.js'

/** How long a capped request may wait for budget held by requests in flight elsewhere, ms. */
export const CONTENTION_WAIT_MS = 5000

export interface SpendOptions {
  link?: SpendLink
  ship?: Ship
  clock?: () => number
  holder?: string
}

export class SpendAccounting implements Accounting {
  readonly keeper: LeaseKeeper
  readonly pricer: Pricer
  /** Extra audit fields: `load_test: true` in load_test_mode. */
  private readonly loadTest: { load_test?: true }
  readonly outbox: Outbox
  private readonly caps: CapResolver
  private readonly identities: IdentityNotes
  private readonly link: SpendLink
  readonly clock: () => number

  constructor (readonly config: Readonly<Config>, opts: SpendOptions = {}) {
    this.link = opts.link ?? primaryLink
    this.clock = opts.clock ?? Date.now
    this.keeper = new LeaseKeeper(this.link, this.clock, opts.holder)
    this.pricer = new Pricer(meterPricing(config))
    this.loadTest = config.load_test_mode?.enabled === true ? { load_test: true } : {}
    this.outbox = new Outbox(this.keeper.holder, opts.ship)
    const admin = config.admin
    const rules: PoolRules = { mode: admin?.group_limit_mode ?? 'min', priority: admin?.pooled_conflict_rule === 'priority_list' ? admin.pooled_priority_order : undefined }
    this.caps = new CapResolver(rules, this.keeper)
    this.identities = new IdentityNotes(this.link)
    process.on('exit', this.exitHook)
  }

  private readonly exitHook = (): void => { this.keeper.returnAll(true) }

  /** Subscribe to the primary's cap pushes (HTTP workers). */
  listen (): this {
    this.unlisten = onEvent(CAPS_EVENT, (m: CapsMessage) => { this.setCaps(m) })
    return this
  }

  private unlisten = (): void => {}

  setCaps (m: CapsMessage): void { this.caps.setCaps(m) }

  // ---- admit -----------------------------------------------------------------------------------

  admit (p: Principal, r: AdmitRequest): Admission | null | Promise<Admission | null> {
    const now = this.clock()
    this.identities.note(p, now)
    if (!this.caps.ready) return this.admitLater(p, r, now, 0)
    const res = this.caps.resolve(p)
    if (res === null) return null
    return this.admitCapped(p, r, res, now, 0)
  }

  private async admitLater (p: Principal, r: AdmitRequest, now: number, tries: number): Promise<Admission | null> {
    try {
      this.setCaps(await this.link.caps(tries > 0))
    } catch (err) {
      return this.storeFailure(p, r, err, now)
    }
    const res = this.caps.resolve(p)
    return res === null ? null : await this.admitCapped(p, r, res, now, tries)
  }

  private admitCapped (p: Principal, r: AdmitRequest, res: Resolution, now: number, tries: number): Admission | Promise<Admission | null> {
    const worst = this.pricer.worst(r.model, r.bodyBytes, r.maxTokens, now)
    const { users, pools } = this.caps.budgetsOf(p, res, now)
    // Fast path: every budget has room in this thread's lease already.
    let fits = users.every((b) => b.available(now) >= worst)
    let pool: Budget | null = null
    if (fits && pools.length > 0) {
      for (const b of pools) {
        if (b.valid(now) && b.exceeded()) continue
        if (b.available(now) >= worst) pool = b
        break
      }
      fits = pool !== null
    }
    if (fits) {
      const holds: Hold[] = []
      for (const b of pool === null ? users : [...users, pool]) { b.reserve(worst, now); holds.push({ b, epoch: b.epoch, amount: worst }) }
      return new SpendAdmission(now, holds, res.caps, users, pool?.subject ?? null, true) as unknown as Admission
    }
    return this.admitSlow(p, r, res, users, pools, worst, now, tries)
  }

  private async admitSlow (p: Principal, r: AdmitRequest, res: Resolution, users: Budget[], pools: Budget[], worst: number, now: number, tries: number): Promise<Admission | null> {
    const deadline = now + CONTENTION_WAIT_MS
    const holds: Hold[] = []
    try {
      // The day, week and month budgets are acquired together: one round trip, not three.
      const settled = await Promise.allSettled(users.map(async (b) => await acquire(this.keeper, b, worst, deadline)))
      const got: Acquired[] = []
      for (const x of settled) if (x.status === 'fulfilled') { got.push(x.value); if (typeof x.value !== 'string') holds.push(x.value) }
      const failed = settled.find((x): x is PromiseRejectedResult => x.status === 'rejected')
      if (failed !== undefined) throw failed.reason
      const scope = (j: number): string => (res.caps[j] as EffectiveCap).scope
      if (got.includes('exceeded')) {
        releaseHolds(holds)
        // Describe every cap known to be used up (the one that resets last binds).
        this.block(p, r, binding(users.map((x, j) => this.state(x, scope(j))).filter((st) => st.over)) as CapState, now)
      }
      const busy = got.indexOf('contended')
      if (busy >= 0) {
        releaseHolds(holds)
        // The budget is all held by requests still in flight: report it as used up.
        this.block(p, r, this.state(users[busy] as Budget, scope(busy), true), now)
      }
      let paying: Budget | null = null
      let firstContended: Budget | null = null
      for (const b of pools) {
        const got = await acquire(this.keeper, b, worst, deadline)
        if (typeof got !== 'string') { holds.push(got); paying = b; break }
        if (got === 'contended') firstContended ??= b
      }
      if (pools.length > 0 && paying === null) {
        releaseHolds(holds)
        this.block(p, r, this.state(firstContended ?? pools[0] as Budget, 'group_pool', firstContended !== null), now, pools.map((b) => b.subject))
      }
      return new SpendAdmission(now, holds, res.caps, users, paying?.subject ?? null, true) as unknown as Admission
    } catch (err) {
      releaseHolds(holds)
      if (err instanceof GatewayError) throw err
      if (err instanceof StaleCaps && tries < 2) return await this.admitLater(p, r, this.clock(), tries + 1)
      return this.storeFailure(p, r, err, now)
    }
  }

  /** A budget as the headers see it. `full` reports it as used up (budget held by requests in flight). */
  private state (b: Budget, scope: string, full = false): CapState & { over: boolean } {
    const spent = b.spentEstimate() / 1e6
    return { period: b.period, capCents: b.cap.cents, spentCents: full ? Math.max(spent, b.cap.cents) : spent, scope, resetsAt: b.resetsAt, over: full || spent >= b.cap.cents }
  }

  private block (p: Principal, r: AdmitRequest, s: CapState, now: number, groups?: string[]): never {
    audit('spend.blocked', { request_id: r.requestId, sub: p.sub, cause: 'over_limit', cap_cents: String(s.capCents), source: s.scope, period: s.period, groups, ...this.loadTest })
    recordBlock('spend_limit')
    throw new GatewayError('GW_SPEND_BLOCKED', blockedMessage(s, this.config.admin?.blocked_message), { headers: limitHeaders(s, now) })
  }

  private storeFailure (p: Principal, r: AdmitRequest, err: unknown, now: number): Admission {
    if (!(err instanceof StoreDown) && this.keeper.markDown(now)) ops.warn(`spend check failed: ${describeError(err)}`)
    if (this.config.enforcement.fail_closed_on_error) {
      audit('spend.blocked', { request_id: r.requestId, sub: p.sub, cause: 'store_error', ...this.loadTest })
      recordBlock('spend_unavailable')
      throw new GatewayError('GW_SPEND_UNAVAILABLE', withBlockedMessage('spend limit unavailable', this.config.admin?.blocked_message), { headers: { ...FETCH_ERROR_HEADERS } })
    }
    return new SpendAdmission(now, [], [], [], null, false) as unknown as Admission
  }

  // ---- headers and settle ----------------------------------------------------------------------

  headers (a: Admission | null, sofar?: Outcome): Record<string, string> | null {
    const adm = a as unknown as SpendAdmission | null
    if (adm === null || !adm.checked || adm.users.length === 0) return null
    // This request's cost so far (micro-cents): not settled yet, so in no bucket's estimate.
    const c = sofar === undefined ? null : countsOf(sofar)
    const own = c === null || sofar === undefined ? 0 : this.pricer.cost(c, this.pricer.resolve(sofar.upstream, sofar.upstreamModel, sofar.clientModel), adm.at) / 1e6
    const states = adm.users.map((b, i) => {
      const s0 = this.state(b, (adm.caps[i] as EffectiveCap).scope)
      const s = own > 0 ? { ...s0, spentCents: s0.spentCents + own } : s0
      // Admitted, so describe it as allowed even if a concurrent request just filled the bucket.
      return s.capCents > 0 && s.spentCents >= s.capCents ? { ...s, spentCents: s.capCents * 0.999 } : s
    })
    return limitHeaders(binding(states) as CapState, this.clock())
  }

  settle (a: Admission | null, p: Principal, o: Outcome): void {
    const adm = a as unknown as SpendAdmission | null
    const now = this.clock()
    const c = countsOf(o)
    const at = adm?.at ?? now
    let cost = 0
    if (c !== null && adm !== null && adm.holds.length > 0) cost = this.pricer.cost(c, this.pricer.resolve(o.upstream, o.upstreamModel, o.clientModel), at)
    const batch = this.outbox.batch
    for (const h of adm?.holds ?? []) {
      h.b.settle(h.epoch, h.amount, cost, now)
      batch.charge(h.b.kind, h.b.subject, h.b.bucket, h.epoch, cost, h.b)
      if (h.b.tight && h.b.reserved === 0) this.keeper.giveBack(h.b, now)
    }
    if (c !== null) addUsageRecord(batch, at, p.sub, o, c, adm?.pool ?? null)
    if (!batch.empty) this.outbox.touched()
  }

  outputCheck (a: Admission | null, p: Principal, o: Outcome): number | Promise<number> {
    const adm = a as unknown as SpendAdmission | null
    if (adm === null || adm.holds.length === 0) return Infinity
    const c = countsOf(o)
    if (c === null) return 1
    const priced = this.pricer.resolve(o.upstream, o.upstreamModel, o.clientModel)
    const cost = this.pricer.cost(c, priced, adm.at)
    // Micro-cents per output token (at least 1), to turn the room left into a token count.
    const perToken = Math.max(1, Math.ceil(this.pricer.cost({ ...c, input: 0, output: 1000, cacheRead: 0, cacheWrite: 0, cacheWrite1h: 0, webSearch: 0 }, priced, adm.at) / 1000))
    const next = (): number => {
      let room = Infinity
      for (const h of adm.holds) room = Math.min(room, h.amount - cost)
      return c.output + Math.max(1, Math.floor(room / perToken))
    }
    const now = this.clock()
    const base = (adm.holds[0] as Hold).amount
    let later = false
    for (let i = 0; i < adm.holds.length; i++) {
      const h = adm.holds[i] as Hold
      if (h.amount >= cost) continue
      if (h.epoch !== h.b.epoch) return 0
      // Room for what streamed plus as much again as the first reservation, at least what streamed.
      const want = cost - h.amount + base
      if (h.b.available(now) >= want) { h.b.reserve(want, now); adm.holds[i] = { b: h.b, epoch: h.epoch, amount: h.amount + want } } else later = true
    }
    return later ? this.growLater(adm, p, o, cost, base).then((ok) => ok === null ? Infinity : ok ? next() : 0) : next()
  }

  /** The slow half of outputCheck: a lease call per budget short of `cost`. Null: store failure, fail open. */
  private async growLater (adm: SpendAdmission, p: Principal, o: Outcome, cost: number, base: number): Promise<boolean | null> {
    try {
      for (let i = 0; i < adm.holds.length; i++) {
        const h = adm.holds[i] as Hold
        if (h.amount >= cost) continue
        const got = await topUp(this.keeper, h.b, cost - h.amount + base, cost - h.amount)
        if (got === 0) {
          audit('spend.blocked', { request_id: o.requestId, sub: p.sub, cause: 'stream_over_limit', cap_cents: String(h.b.cap.cents), period: h.b.period, ...this.loadTest })
          recordBlock('spend_limit')
          return false
        }
        adm.holds[i] = { b: h.b, epoch: h.epoch, amount: h.amount + got }
      }
      return true
    } catch (err) {
      if (!(err instanceof StoreDown) && this.keeper.markDown(this.clock())) ops.warn(`spend check failed: ${describeError(err)}`)
      return this.config.enforcement.fail_closed_on_error ? false : null
    }
  }

  /** Stop timers and flush (tests and shutdown). */
  close (): void {
    this.keeper.close()
    this.outbox.close()
    process.off('exit', this.exitHook)
    this.unlisten()
  }
}
