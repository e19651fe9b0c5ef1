/**
 * `cri.policy.webhook`: an operator's content-policy service asked before each customer-routed
 * request is sent upstream.
 *
 * Contract (both directions JSON):
 *   - request: `POST <url>` with headers `content-type: application/json`, `x-request-id` and
 *     `x-principal-sub`, body `{path, query, headers, body}` — the client's path and raw query, the
 *     headers Weir would forward (credentials never included) and the parsed request body;
 *   - answer: 2xx `{block: boolean, reason?: string, rule_id?: string}`.
 * `block: true` refuses the request with 400 `policy_blocked` (`x-should-retry: false`) carrying
 * the reason, and audits `policy.blocked`. A webhook that times out (`timeout_ms`), answers non-2xx
 * or unreadable JSON fails the request closed (503, the default) or, with `fail_closed: false`,
 * lets it through and audits `policy.skipped`. The call goes through the SSRF guard and never
 * follows redirects.
 */
import type { Dispatcher } from 'undici'
import { GatewayError } from '../errors.js'
import { audit, ops } from '../log.js'
import { boundedText, guardedFetch } from '../net/ssrf.js'

export interface WebhookConfig {
  readonly url: string
  readonly timeout_ms: number
  readonly fail_closed: boolean
}

export interface Screening {
  readonly requestId: string
  readonly sub: string
  readonly org: string
  readonly path: string
  readonly query: string
  readonly headers: Readonly<Record<string, string>>
  readonly body: unknown
}

const MAX_ANSWER_BYTES = 64 * 1024
const MAX_REASON = 500

export class PolicyWebhook {
  constructor (private readonly cfg: WebhookConfig, private readonly dispatcher: Dispatcher) {}

  /** Resolves when the request may go on; rejects with a GatewayError when it may not. */
  async screen (s: Screening): Promise<void> {
    let verdict: { block: boolean, reason: string | undefined, ruleId: string | undefined }
    try {
      verdict = await this.ask(s)
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err)
      ops.warn(`cri policy webhook failed request_id=${s.requestId}: ${why}`)
      audit('policy.skipped', { request_id: s.requestId, sub: s.sub, org: s.org, fail_closed: this.cfg.fail_closed, err: why })
      if (this.cfg.fail_closed) throw new GatewayError('GW_POLICY_UNAVAILABLE', 'the content policy check is unavailable; the request was not sent')
      return
    }
    if (!verdict.block) return
    audit('policy.blocked', { request_id: s.requestId, sub: s.sub, org: s.org, rule_id: verdict.ruleId, reason: verdict.reason })
    throw new GatewayError('GW_POLICY_BLOCKED', verdict.reason !== undefined && verdict.reason !== ''
      ? `blocked by content policy: ${verdict.reason}`
      : undefined)
  }

  private async ask (s: Screening): Promise<{ block: boolean, reason: string | undefined, ruleId: string | undefined }> {
    const res = await guardedFetch(this.cfg.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json', 'x-request-id': s.requestId, 'x-principal-sub': s.sub },
      body: JSON.stringify({ path: s.path, query: s.query, headers: s.headers, body: s.body }),
      dispatcher: this.dispatcher,
      timeoutMs: this.cfg.timeout_ms,
    })
    if (res.status < 200 || res.status > 299) { await res.body?.cancel().catch(() => {}); throw new Error(`answered ${res.status}`) }
    const text = await boundedText(res, MAX_ANSWER_BYTES)
    const j = JSON.parse(text) as Record<string, unknown>
    if (typeof j !== 'object' || j === null || typeof j.block !== 'boolean') throw new Error('answer has no boolean "block"')
    const str = (v: unknown): string | undefined => typeof v === 'string' ? v.slice(0, MAX_REASON) : undefined
    return { block: j.block, reason: str(j.reason), ruleId: str(j.rule_id) }
  }
}
