/**
 * Customer-routed inference (CRI) admission for the inference endpoints, one per HTTP worker.
 *
 * With `cri.enabled`, a `POST /v1/messages` or `/v1/messages/count_tokens` whose bearer is a JWS
 * with header `typ: cri+jwt` is admitted here instead of by the session verifier:
 *   - `authenticate` runs the key-free checks synchronously (a refusal there reads no body byte),
 *     then verifies the signature against the issuer's key set (jwks.ts; per worker, fetched
 *     through the SSRF guard). A refusal is 401 `invalid token` with audit `auth.denied` reason
 *     `cri_<reason>` (plus `org` when the token named one); an issuer whose keys cannot be had is
 *     503 `api_error` "customer-routed inference is temporarily unavailable: …" with
 *     `retry-after: 30`;
 *   - `screen` re-serialises the body (so exactly what was parsed is what goes upstream) and, when
 *     `cri.policy.webhook` is set, asks it (webhook.ts).
 * The resulting principal carries `cri` and is treated by the hot path as: no spend check or
 * metering, no managed-policy model check, no identity headers, upstream errors rewritten to
 * generic envelopes, `x-cri-upstream-kind: cloud` on answers from cloud providers.
 */
import { GatewayError } from '../errors.js'
import type { CriConfig } from '../config/schema.js'
import type { Req } from '../http/request.js'
import { clientIp } from '../http/router.js'
import { audit, ops } from '../log.js'
import type { CidrList } from '../net/cidr.js'
import { guardedAgent } from '../net/ssrf.js'
import { forwardHeaders } from '../proxy/headers.js'
import type { Principal } from '../session/token.js'
import { JwksCache, JwksUnavailable } from './jwks.js'
import { CriRefused, CriVerifier, DEFAULT_ISSUER, isCriToken, precheck, type CriRules } from './verify.js'
import { PolicyWebhook } from './webhook.js'

/** Seconds a client is told to wait when the issuer's keys are unavailable. */
export const RETRY_AFTER_SECONDS = 30

export class CriGate {
  private readonly rules: CriRules
  private readonly verifier: CriVerifier
  private readonly webhook: PolicyWebhook | null
  readonly keys: JwksCache

  constructor (cfg: CriConfig, private readonly trusted: CidrList) {
    const issuer = cfg.issuer ?? DEFAULT_ISSUER
    this.rules = { issuer, audience: cfg.audience, orgs: new Set(cfg.org_allowlist) }
    const dispatcher = guardedAgent({ connections: 2 })
    this.keys = new JwksCache({ url: cfg.jwks_url ?? `${issuer}/jwks.json`, dispatcher })
    this.verifier = new CriVerifier(this.rules, this.keys)
    const hook = cfg.policy?.webhook
    this.webhook = hook === undefined ? null : new PolicyWebhook(hook, dispatcher)
  }

  /** The bearer of `rq` when it is a cri+jwt, else null (then the session verifier answers). */
  tokenOf (rq: Req): string | null {
    const h = rq.headers.authorization
    if (h === undefined || h.length < 8 || h.slice(0, 7).toLowerCase() !== 'bearer ') return null
    const token = h.slice(7).trim()
    return isCriToken(token) ? token : null
  }

  /** Throws synchronously for a refusal decided from the token alone; otherwise a promise of the principal. */
  authenticate (rq: Req, token: string): Promise<Principal> {
    try {
      precheck(token, this.rules, Math.floor(Date.now() / 1000))
    } catch (err) {
      throw this.refusal(rq, err)
    }
    return this.verifier.verify(token).then((id): Principal => ({
      sub: id.sub,
      email: undefined,
      name: undefined,
      groups: [],
      iat: id.iat,
      exp: id.exp,
      cri: { org: id.org, act: id.act },
    }), (err: unknown) => { throw this.refusal(rq, err) })
  }

  /** The body to send upstream (re-serialised), after the policy webhook allowed it. */
  async screen (rq: Req, p: Principal, body: Buffer): Promise<Buffer> {
    let parsed: unknown
    try { parsed = JSON.parse(body.toString('utf8')) } catch { return body } // the scanner reports it
    if (this.webhook !== null) {
      const headers = forwardHeaders(rq.headers)
      await this.webhook.screen({ requestId: rq.id, sub: p.sub, org: p.cri?.org ?? '', path: rq.path, query: rq.query, headers, body: parsed })
    }
    return Buffer.from(JSON.stringify(parsed))
  }

  private refusal (rq: Req, err: unknown): unknown {
    if (err instanceof CriRefused) {
      audit('auth.denied', { request_id: rq.id, reason: `cri_${err.reason}`, path: rq.path, client_ip: clientIp(rq, this.trusted), ...(err.org !== undefined ? { org: err.org } : {}) })
      return new GatewayError('GW_AUTH_INVALID')
    }
    if (err instanceof JwksUnavailable) {
      ops.warn(`cri: ${err.message}`)
      return new GatewayError('GW_CRI_UNAVAILABLE', "customer-routed inference is temporarily unavailable: the token issuer's signing keys could not be fetched", { headers: { 'retry-after': String(RETRY_AFTER_SECONDS) } })
    }
    return err
  }
}
