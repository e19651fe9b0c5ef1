/**
 * Failover rules and the answer when no upstream succeeded.
 *
 * An upstream answer fails over when its status is ≥ 500, 429, 401, 403 or 404 (the reference's
 * rule; 501 is included as a 5xx); any other status is the answer. Connection errors, header
 * timeouts and errors raised while preparing a request (e.g. count_tokens on a provider that lacks
 * it) fail over too. The answer after the last attempt (`finalFailure`):
 *   - the last attempt was answered with a status that does not fail over (a 400, 413, 422…):
 *     that answer — from the Anthropic API unchanged, from a cloud provider rewritten
 *     (`sanitisedBody`: status and error type kept, a generic message, except the size/context
 *     400s and 413s the client recovers from);
 *   - only one upstream could take the request (no failover was possible): its answer, by the same
 *     provider rule — Claude Code's recovery reads an Anthropic error's text;
 *   - failover was taken and every upstream failed: a gateway-authored answer with no upstream
 *     text. The last 429 wins, else the last 401/403, else the last 404, else the last 501 (a
 *     provider refusing the endpoint counts as one), each with its status, error type and a
 *     generic message (a 429 keeps `retry-after`); else, when every attempt timed out waiting
 *     for the upstream (no headers, or no body bytes, in time), `504 api_error upstream did not
 *     answer in time (N attempted)` — Weir's choice: the reference answers 502 here too; else
 *     `502 api_error all upstreams failed (N attempted)`, N being the configured upstreams
 *     (skipped ones included, as the reference counts them). Other 5xx bodies are dropped.
 * Which undici errors count as timeouts is decided in one place, `upstreamFailure` (lib/errors.ts).
 * The full upstream text always goes to the operator's log, never to the client after a failover.
 */
import { GatewayError, anthropicEnvelope, upstreamFailure } from '../errors.js'
import { ops } from '../log.js'
import { betaList } from './upstreams/body-edit.js'
import { CAPABILITY_REJECTED, capabilityClass } from './upstreams/error-class.js'
import type { Endpoint, Upstream } from './upstreams/types.js'

export interface Attempt {
  readonly upstream: Upstream
  readonly status?: number
  readonly headers?: Buffer[]
  readonly body?: Buffer
  readonly error?: unknown
}

export function isFailoverStatus (status: number): boolean {
  return status >= 500 || status === 429 || status === 401 || status === 403 || status === 404
}

/** The response to send: status, raw header pairs (Buffers, as undici gave them) and body. */
export interface FinalAnswer {
  readonly relay: { status: number, headers: Buffer[], body: Buffer } | null
  readonly error: GatewayError | null
}

const TYPE_BY_STATUS: Record<number, [string, string]> = {
  400: ['invalid_request_error', 'upstream rejected the request'],
  401: ['authentication_error', 'upstream authentication failed; contact the gateway operator'],
  403: ['permission_error', 'upstream refused the request; contact the gateway operator'],
  404: ['not_found_error', 'upstream resource not found'],
  413: ['request_too_large', 'request too large for this upstream'],
  429: ['rate_limit_error', 'upstream rate limit exceeded'],
  501: ['not_supported', 'upstream does not support this endpoint'],
  529: ['overloaded_error', 'upstream overloaded'],
}

/** The sentence Claude Code's recovery matches whole (drop older images, then compact). */
const INPUT_TOO_LONG = 'Input is too long.'
/** Vertex's request-size refusal, e.g. `The request size (30037042 bytes) exceeds 30.000MB limit.` */
const SIZE_400 = /^the (?:request|message) size \(\d+ bytes\) exceeds [\d.]+ ?mb limit\.?$/i
/** Anthropic error types an upstream's own envelope may carry (then its message is relayed). */
const ANTHROPIC_TYPES = new Set(['invalid_request_error', 'authentication_error', 'permission_error', 'not_found_error',
  'request_too_large', 'rate_limit_error', 'not_supported', 'overloaded_error', 'api_error', 'billing_error'])

/**
 * The message inside a cloud error body, whichever shape it has: Anthropic's envelope
 * (`{"type":"error","error":{…}}`, Vertex model errors), Google's (`{"error":{"code","message","status"}}`,
 * sometimes wrapped in an array), Bedrock's (`{"message"}` / `{"Message"}`). `envelope` is true for
 * Anthropic's own shape with a known type.
 */
function upstreamMessage (body: Buffer): { message: string, envelope: boolean } | undefined {
  let j: unknown
  try { j = JSON.parse(body.toString('utf8')) } catch { return undefined }
  if (Array.isArray(j)) j = j[0]
  if (typeof j !== 'object' || j === null) return undefined
  const o = j as Record<string, unknown>
  const e = typeof o.error === 'object' && o.error !== null ? o.error as Record<string, unknown> : undefined
  if (o.type === 'error' && typeof e?.type === 'string' && typeof e.message === 'string') return { message: e.message, envelope: ANTHROPIC_TYPES.has(e.type) }
  const m = typeof e?.message === 'string' ? e.message : typeof o.message === 'string' ? o.message : typeof o.Message === 'string' ? o.Message : undefined
  return m === undefined ? undefined : { message: m, envelope: false }
}

/**
 * The beta a 400 body says the upstream refused (`capability_rejected: beta_header:<value>`), when
 * that value is one of the betas `sent`; else undefined.
 */
export function refusedBeta (body: Buffer, sent: string | undefined): string | undefined {
  const u = upstreamMessage(body)
  const cls = u === undefined ? undefined : capabilityClass(400, u.message)
  if (cls?.startsWith('beta_header:') !== true) return undefined
  const beta = cls.slice('beta_header:'.length)
  return betaList(sent).includes(beta) ? beta : undefined
}

/**
 * A gateway-authored error body for a cloud upstream's answer: the status and its error type are
 * kept, the message is generic — except where Claude Code's recovery depends on the words:
 *   - a 400/413 in Anthropic's own envelope (Vertex passes Anthropic's errors through): its
 *     message, at most 1000 characters (e.g. `prompt is too long: …`, which triggers auto-compact);
 *   - Bedrock's 400 whose whole message is `Input is too long.`, and Vertex's request-size 400:
 *     exactly `Input is too long.`;
 *   - any other 400/413 the client can adapt to: `capability_rejected: <class>` (error-class.ts).
 * `strict` (customer-routed requests) keeps only the last rule: no upstream words at all.
 */
export function sanitisedBody (status: number, body: Buffer | undefined, requestId: string, strict = false): Buffer {
  const [type, generic] = TYPE_BY_STATUS[status] ?? ['api_error', 'upstream error']
  let message = generic
  if ((status === 400 || status === 413) && body !== undefined && body.length > 0) {
    const u = upstreamMessage(body)
    if (u !== undefined && u.message !== '') {
      const whole = u.message.trim()
      if (u.envelope && !strict) message = u.message.slice(0, 1000)
      else if (strict) {
        const cls = capabilityClass(status, u.message)
        if (cls !== undefined) message = CAPABILITY_REJECTED + cls
      } else if (status === 400 && (/^input is too long\.?$/i.test(whole) || SIZE_400.test(whole))) message = INPUT_TOO_LONG
      else {
        const cls = capabilityClass(status, u.message)
        if (cls !== undefined) message = CAPABILITY_REJECTED + cls
      }
    }
  }
  return Buffer.from(anthropicEnvelope(type, message, requestId))
}

/** Response headers for a sanitised answer: JSON, the upstream's `retry-after` on a 429, `x-should-retry: false` on a 501. */
function sanitisedHeaders (status: number, upstream: readonly Buffer[] | undefined): Buffer[] {
  const out: Buffer[] = [...JSON_HEADERS]
  if (status === 429 && upstream !== undefined) {
    for (let i = 0; i + 1 < upstream.length; i += 2) {
      // Only a plausible value (seconds or an HTTP date) is passed on: it is upstream text too.
      const v = upstream[i + 1] as Buffer
      if ((upstream[i] as Buffer).toString('latin1').toLowerCase() === 'retry-after' && /^(?:\d{1,9}|[A-Za-z0-9 ,:]{1,40})$/.test(v.toString('latin1'))) out.push(Buffer.from('retry-after'), v)
    }
  }
  if (status === 501) out.push(Buffer.from('x-should-retry'), Buffer.from('false'))
  return out
}

const JSON_HEADERS = [Buffer.from('content-type'), Buffer.from('application/json')]

/** Characters of upstream text per log line (a line is bounded to one atomic write). */
const LOG_PART = 3000

function logAttempts (attempts: readonly Attempt[], requestId: string): void {
  for (const a of attempts) {
    if (a.status !== undefined) {
      // In full (up to the 64 KiB collected), in parts that each fit one log line.
      const text = a.body?.toString('utf8') ?? ''
      const head = `upstream ${a.upstream.name} answered ${a.status} request_id=${requestId}`
      const n = Math.max(1, Math.ceil(text.length / LOG_PART))
      for (let i = 0; i < n; i++) ops.warn(`${head}${n > 1 ? ` (part ${i + 1}/${n})` : ''}: ${text.slice(i * LOG_PART, (i + 1) * LOG_PART)}`)
    } else {
      const e = a.error as { code?: string, message?: string } | undefined
      ops.warn(`upstream ${a.upstream.name} failed request_id=${requestId}: ${e?.code ?? ''} ${e?.message ?? String(a.error)}`.trim())
    }
  }
}

/** Rank of a remembered failure after a failover (lower wins); null for one that is never returned. */
function rank (a: Attempt): number | null {
  const s = a.status ?? (a.error instanceof GatewayError && a.error.code === 'GW_NOT_SUPPORTED' ? 501 : undefined)
  return s === 429 ? 0 : s === 401 || s === 403 ? 1 : s === 404 ? 2 : s === 501 ? 3 : null
}

/** One upstream's own answer, by its provider's rule (relayed, or sanitised for a cloud provider; always sanitised, strictly, when `generic`). */
function answerOf (a: Attempt, requestId: string, generic: boolean): FinalAnswer {
  const status = a.status as number
  if (generic) return { relay: { status, headers: sanitisedHeaders(status, a.headers), body: sanitisedBody(status, a.body, requestId, true) }, error: null }
  if (!a.upstream.sanitizeErrors) return { relay: { status, headers: a.headers ?? [], body: a.body ?? Buffer.alloc(0) }, error: null }
  return { relay: { status, headers: sanitisedHeaders(status, a.headers), body: sanitisedBody(status, a.body, requestId) }, error: null }
}

/**
 * Decide the answer after the last attempt (see the file comment). `configured` is the number of
 * upstreams in the config (the N of `N attempted`); it defaults to the number of attempts.
 */
export function finalFailure (attempts: readonly Attempt[], requestId: string, endpoint: Endpoint, configured = attempts.length, generic = false): FinalAnswer {
  logAttempts(attempts, requestId)
  const last = attempts[attempts.length - 1]
  if (last?.status !== undefined && (!isFailoverStatus(last.status) || attempts.length === 1)) return answerOf(last, requestId, generic)
  let pick: Attempt | undefined
  let best = Infinity
  for (const a of attempts) {
    const r = rank(a)
    if (r !== null && r <= best) { pick = a; best = r }
  }
  if (pick?.error instanceof GatewayError) {
    // Every upstream that could answer refused the endpoint itself (e.g. count_tokens).
    return { relay: null, error: new GatewayError('GW_NOT_SUPPORTED', endpoint === 'count_tokens' ? 'count_tokens is not supported by the configured upstreams' : pick.error.message) }
  }
  if (pick?.status !== undefined) {
    return { relay: { status: pick.status, headers: sanitisedHeaders(pick.status, pick.headers), body: sanitisedBody(pick.status, undefined, requestId) }, error: null }
  }
  const n = Math.max(configured, attempts.length)
  // Every attempt went unanswered because the upstream stayed silent (undici's headers/body timeout).
  if (attempts.length > 0 && attempts.every((a) => a.status === undefined && upstreamFailure(a.error).code === 'GW_UPSTREAM_TIMEOUT')) {
    return { relay: null, error: new GatewayError('GW_UPSTREAM_TIMEOUT', `upstream did not answer in time (${n} attempted)`) }
  }
  return { relay: null, error: new GatewayError('GW_UPSTREAM_UNAVAILABLE', `all upstreams failed (${n} attempted)`) }
}
