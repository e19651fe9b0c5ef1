/**
 * Long-lived objects one HTTP worker builds at start and every route shares: the session verifier
 * (with its revocation state), the model router, the policy, spend and telemetry hooks. Built once
 * from the frozen config; nothing here touches the database on the request path.
 */
import { CriGate } from './cri/gate.js'
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
}

export function buildServices (ctx: WorkerContext): Services {
  const { config } = ctx
  const trusted = new CidrList(config.listen.trusted_proxies)
  const sessions = new Sessions(keyRing(config.session.jwt_secret), { issuer: config.listen.public_url, trusted })
  onEvent('sessions.revoked', (list: Revocation[]) => { sessions.applyRevocations(list) })
  const models = new ModelRouter(config.models ?? [], config.auto_include_builtin_models, config.upstreams.map((u) => ({ name: u.name, provider: u.provider, models: 'models' in u ? u.models : undefined })))
  const upstreams = buildUpstreams(config)
  const pools = UpstreamPools.fromConfig(config.upstream_pools, config.upstreams.map((u) => u.name))
  const policy = Policies.fromConfig(config)
  const cri = config.cri?.enabled === true ? new CriGate(config.cri, trusted) : null
  return { sessions, models, trusted, upstreams, pools, modelPolicy: policy, accounting: config.admin !== undefined ? new SpendAccounting(config).listen() : NO_ACCOUNTING, policy, cri }
}
