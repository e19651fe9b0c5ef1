/**
 * Long-lived objects one HTTP worker builds for a config generation and every route shares: the
 * session verifier (with its revocation state), the model router, the policy, spend and telemetry
 * hooks. Built from one frozen config; nothing here touches the database on the request path.
 *
 * On a config reload (`prev` given) a stateful part whose config did not change is reused (the
 * session cache, upstream connection pools and credential caches, spend leases); a rebuilt session
 * verifier inherits the revocations seen so far. `owned` lists what must be closed when no live
 * generation uses it any more (lib/http/generations.ts).
 */
import { isDeepStrictEqual } from 'node:util'
import type { Config } from './config/schema.js'
import { CriGate } from './cri/gate.js'
import type { Owned } from './http/generations.js'
import { onEvent } from './ipc.js'
import { CidrList } from './net/cidr.js'
import { Policies } from './policy/index.js'
import { NO_ACCOUNTING, type Accounting } from './proxy/accounting.js'
import type { ModelPolicy } from './proxy/messages.js'
import { UpstreamPools } from './proxy/pools/index.js'
import { ModelRouter } from './proxy/routing.js'
import { buildUpstreams } from './proxy/upstreams/index.js'
import type { Upstream } from './proxy/upstreams/types.js'
import { SpendAccounting } from './spend/accounting.js'
import { type Revocation, Sessions } from './session/sessions.js'
import { keyRing } from './session/token.js'
import { REVOKED_EVENT } from './session/rpc-map.js'
import type { WorkerContext } from './worker-context.js'

export interface Services {
  readonly sessions: Sessions
  readonly models: ModelRouter
  readonly trusted: CidrList
  /** Upstream clients in failover order (this worker's connection pools). */
  readonly upstreams: readonly Upstream[]
  /** Model allow-list checks on the hot path. */
  readonly modelPolicy: ModelPolicy
  /** Spend caps and metering on the hot path. */
  readonly accounting: Accounting
  /** Managed policies: settings delivery, availableModels, Desktop bootstrap (lib/policy). */
  readonly policy: Policies
  /** `upstream_pools` (Weir extension): this worker's pool health and the session-affine order; null without pools. */
  readonly pools: UpstreamPools | null
  /** Customer-routed inference admission (lib/cri), with this worker's issuer key cache; null unless `cri.enabled`. */
  readonly cri: CriGate | null
  /** Resources to close once no live generation uses them. */
  readonly owned: readonly Owned[]
}

/** The parts of `a` and `b` named by `keys` are equal (so a part built from them can be reused). */
function same (a: Readonly<Config>, b: Readonly<Config>, keys: ReadonlyArray<(c: Readonly<Config>) => unknown>): boolean {
  return keys.every((k) => isDeepStrictEqual(k(a), k(b)))
}

export function buildServices (ctx: WorkerContext, prev?: { config: Readonly<Config>, svc: Services }): Services {
  const { config } = ctx
  const keep = (keys: ReadonlyArray<(c: Readonly<Config>) => unknown>): boolean => prev !== undefined && same(prev.config, config, keys)
  const owned: Owned[] = []
  const trusted = new CidrList(config.listen.trusted_proxies)

  let sessions: Sessions
  if (prev !== undefined && keep([(c) => c.session, (c) => c.listen.public_url, (c) => c.listen.trusted_proxies])) {
    sessions = prev.svc.sessions
  } else {
    sessions = new Sessions(keyRing(config.session.jwt_secret), { issuer: config.listen.public_url, trusted })
    if (prev !== undefined) sessions.inheritRevocations(prev.svc.sessions)
  }
  const off = onEvent(REVOKED_EVENT, (list: Revocation[]) => { sessions.applyRevocations(list) })
  owned.push({ key: {}, close: off })

  const models = new ModelRouter(config.models ?? [], config.auto_include_builtin_models, config.upstreams.map((u) => ({ name: u.name, provider: u.provider, models: 'models' in u ? u.models : undefined })))
  const upstreams = prev !== undefined && keep([(c) => c.upstreams, (c) => c.timeouts, (c) => c.load_test_mode]) ? prev.svc.upstreams : buildUpstreams(config)
  owned.push({ key: upstreams, close: async () => { await Promise.all(upstreams.map(async (u) => { await u.close() })) } })
  // Pool health (cooldowns, probes) survives a reload that leaves the pools and upstreams alone.
  const pools = prev !== undefined && keep([(c) => c.upstream_pools, (c) => c.upstreams]) ? prev.svc.pools : UpstreamPools.fromConfig(config.upstream_pools, config.upstreams.map((u) => u.name))
  if (pools !== null) owned.push({ key: pools, close: () => { pools.retire() } })
  const policy = Policies.fromConfig(config)
  const cri = config.cri?.enabled !== true
    ? null
    : prev?.svc.cri != null && keep([(c) => c.cri, (c) => c.listen.trusted_proxies]) ? prev.svc.cri : new CriGate(config.cri, trusted)
  let accounting: Accounting = NO_ACCOUNTING
  if (config.admin !== undefined) {
    accounting = prev !== undefined && prev.svc.accounting !== NO_ACCOUNTING && keep([(c) => c.admin, (c) => c.enforcement, (c) => c.pricing, (c) => c.load_test_mode])
      ? prev.svc.accounting
      : new SpendAccounting(config).listen()
    if (accounting instanceof SpendAccounting) { const a = accounting; owned.push({ key: a, close: () => { a.close() } }) }
  }
  return { sessions, models, trusted, upstreams, pools, modelPolicy: policy, accounting, policy, cri, owned }
}
