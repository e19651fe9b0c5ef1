/**
 * Admission: what the gateway decides about an inference request before any upstream sees it —
 * a pure function of the request (headers and body bytes), the signed-in principal and the
 * configuration. No sockets, no awaits, no spend control (messages.ts asks that afterwards).
 *
 *   - forwarded-header checks (headers.ts);
 *   - the body is scanned for `model`/`max_tokens`/`tags` without being parsed (json-scan.ts);
 *   - the model must be present, a string, allowed by the developer's policy (skipped for a
 *     customer-routed-inference principal), and routable to at least one upstream;
 *   - upstreams reserved for IdP groups the principal lacks are left out of the candidates;
 *   - with `admin.billing_group_tag`, the request's tag of that name picks the billing group
 *     when the principal belongs to that group.
 *
 * Invariant: a refusal is a `GatewayError` from the registry, returned (never thrown) with the
 * model as far as it was read, so the caller can render it and audit the request.
 */
import { GatewayError } from '../errors.js'
import type { Req } from '../http/request.js'
import type { Principal } from '../session/token.js'
import type { Accounting } from './accounting.js'
import { echo } from './echo.js'
import { checkForwarded } from './headers.js'
import { ScanError, scanRequest, type ScannedRequest } from './json-scan.js'
import type { UpstreamPools } from './pools/index.js'
import type { Candidate, ModelRouter } from './routing.js'
import type { Upstream } from './upstreams/types.js'

/** Customer-routed inference admission (lib/cri/gate.ts). */
export interface CriAdmission {
  /** The bearer when it is a cri+jwt, else null. */
  tokenOf (rq: Req): string | null
  /** Throws for a refusal decided from the token alone; else the verified principal (or a refusal) later. */
  authenticate (rq: Req, token: string): Promise<Principal>
  /** The body to send upstream, once the content policy allowed it (rejects with a GatewayError otherwise). */
  screen (rq: Req, p: Principal, body: Buffer): Promise<Buffer>
}

/** The model allow-list check and audit extras (lib/policy). */
export interface ModelPolicy {
  checkModel (p: Principal, model: string): void
  auditFields (headers: Readonly<Record<string, string>>): Record<string, string> | null
}

export interface MessagesDeps {
  readonly upstreams: readonly Upstream[]
  readonly models: ModelRouter
  readonly policy: ModelPolicy
  readonly accounting: Accounting
  readonly authenticate: (rq: Req) => Principal
  /** Set when `cri.enabled`. */
  readonly cri: CriAdmission | null
  readonly maxBodyBytes: number
  /** `admin.billing_group_tag`: when set, request tags are read for attribution and stripped. */
  readonly billingGroupTag: string | undefined
  /** Per upstream (by index): the IdP groups it is reserved for, or null for everyone. */
  readonly upstreamGroups: ReadonlyArray<ReadonlySet<string> | null>
  /** `load_test_mode.enabled`: `x-load-test-user` picks a made-up developer; audit lines say `load_test`. */
  readonly loadTest: boolean
  /** `upstream_pools` (Weir extension): session-affine order inside pools, with health; null for ordered failover. */
  readonly pools: UpstreamPools | null
}

/** The part of the configuration admission reads. */
export type AdmissionDeps = Pick<MessagesDeps, 'models' | 'policy' | 'billingGroupTag' | 'upstreamGroups'>

export interface Admitted {
  readonly scan: ScannedRequest
  readonly model: string
  /** The catalog family the model belongs to, or null. */
  readonly family: string | null
  /** Upstreams that may serve it, in configured order (before upstream pools reorder them). */
  readonly candidates: readonly Candidate[]
  readonly billingGroup: string | undefined
}

export interface Refused {
  readonly error: GatewayError
  /** The model as far as it was read ('' when the body gave none). */
  readonly model: string
}

export function isRefused (d: Admitted | Refused): d is Refused {
  return 'error' in d
}

/** Decide whether (and where) the request may go. Throws only for non-registry errors (bugs). */
export function admit (headers: Readonly<Record<string, string>>, body: Buffer, p: Principal, deps: AdmissionDeps): Admitted | Refused {
  const badHeader = checkForwarded(headers)
  if (badHeader !== null) return { error: badHeader, model: '' }
  let scan: ScannedRequest
  try {
    scan = scanRequest(body)
  } catch (err) {
    return { error: new GatewayError('GW_INVALID_JSON', err instanceof ScanError ? `invalid request body: ${err.message}` : 'invalid JSON'), model: '' }
  }
  const m = scan.model
  if (m === undefined || m === '') return { error: new GatewayError('GW_MODEL_REQUIRED'), model: '' }
  if (m === null) return { error: new GatewayError('GW_INVALID_JSON', 'model must be a string'), model: '' }
  if (p.cri === undefined) {
    try {
      deps.policy.checkModel(p, m)
    } catch (err) {
      if (err instanceof GatewayError) return { error: err, model: m }
      throw err
    }
  }
  const route = deps.models.resolve(m)
  const family = route.entry?.key ?? null
  if (route.candidates.length === 0) {
    return { error: new GatewayError('GW_MODEL_UNKNOWN', `model ${echo(m)} is not available: ${route.reasons.join('; ')}`), model: m }
  }
  let candidates = route.candidates
  if (deps.upstreamGroups.some((g) => g !== null)) {
    const mine = p.groups
    candidates = candidates.filter((c) => {
      const g = deps.upstreamGroups[c.upstream]
      return g === null || g === undefined || mine.some((x) => g.has(x))
    })
    if (candidates.length === 0) {
      return { error: new GatewayError('GW_MODEL_UNKNOWN', `model ${echo(m)} is not available to your groups on this gateway`), model: m }
    }
  }
  let billingGroup: string | undefined
  if (deps.billingGroupTag !== undefined && scan.tags !== null) {
    const v = (scan.tags.value as Record<string, unknown> | null)?.[deps.billingGroupTag]
    if (typeof v === 'string' && p.groups.includes(v)) billingGroup = v
  }
  return { scan, model: m, family, candidates, billingGroup }
}
