/**
 * The end of an inference request: settle spend with what was used, and write one `inference`
 * audit line (plus the request metrics).
 *
 * Invariants: `done` runs its body once per request (guarded by `settled`); spend control's
 * `settle` is called exactly once for an admitted `/v1/messages` request and never for a
 * customer-routed one; usage is billed from what the stream reported, or from the byte estimate
 * when the stream was cut short or ran far past `max_tokens`.
 */
import { finish } from '../http/request.js'
import { auditRecord, auditTime } from '../log.js'
import { recordRequest, recordTokens, recordUpstreamTokens } from '../telemetry/metrics.js'
import type { Outcome } from './accounting.js'
import type { Exchange } from './exchange.js'
import { usageFromJson, type Usage } from './sse-usage.js'

/**
 * What the request has used so far, `extra` more bytes included (for `outputCheck` and `settle`).
 * Output is billed from the byte estimate instead of the reported count when the stream was cut
 * short, or ran far past `max_tokens`.
 */
export function outcome (x: Exchange, status: number, extra: number): Outcome {
  const u = x.upstream
  // Far more streamed than max_tokens allows: the upstream's own count is not believed (the
  // margin keeps long-token replies, which the byte estimate over-counts, on the reported count).
  const max = x.scan?.maxTokens
  const tap = x.tap
  const over = tap !== null && max !== undefined && max > 0 && tap.projectedOutputTokens(0) > 2 * max + 64
  const ok = x.out.status >= 200 && x.out.status < 300
  return {
    requestId: x.rq.id,
    upstream: u?.name ?? null,
    provider: u?.provider ?? null,
    upstreamModel: x.upstreamModel,
    clientModel: x.model,
    family: x.family,
    status,
    // An aborted stream still reported its input side in message_start: bill what was seen.
    usage: x.committed && ok ? usageOf(x) : null,
    estimatedOutputTokens: extra > 0 || over ? tap?.projectedOutputTokens(extra) ?? 0 : tap?.estimatedOutputTokens() ?? 0,
    aborted: extra > 0 || over || x.abortReason !== undefined,
    billingGroup: x.billingGroup,
  }
}

function usageOf (x: Exchange): Usage | null {
  if (x.tap !== null) return x.tap.usage
  if (x.json !== null && x.json.length > 0) return usageFromJson(x.json.length === 1 ? x.json[0] as Buffer : Buffer.concat(x.json))?.usage ?? null
  return null
}

/** The request is over with `status` (499: the client went away): settle, audit, release. */
export function done (x: Exchange, status: number): void {
  if (x.settled) return
  x.out.unping()
  if (x.probe >= 0) { x.deps.pools?.releaseProbe(x.probe); x.probe = -1 }
  x.settled = true
  if (x.endpoint === 'messages' && !x.cri) x.accounting.settle(x.admission, x.principal, outcome(x, status, 0))
  auditInference(x, status)
  finish(x.rq)
}

/** One `inference` audit line and the request metrics (also for requests refused before any attempt). */
export function auditInference (x: Exchange, status: number): void {
  const u = x.settled ? usageOf(x) : null
  const ms = performance.now() - x.rq.t0
  const up = x.upstream
  recordRequest(x.endpoint === 'messages' ? '/v1/messages' : '/v1/messages/count_tokens', status, ms, up?.name)
  if (u !== null) recordTokens(x.model, u.input_tokens, u.output_tokens, u.cache_read_input_tokens, u.cache_creation_input_tokens)
  if (u !== null && up !== null) recordUpstreamTokens(up.name, u.input_tokens, u.cache_read_input_tokens, u.cache_creation_input_tokens)
  const extra = x.deps.policy.auditFields(x.rq.headers)
  const cri = x.principal?.cri
  // One object of one shape, the rare fields added after (no spread: it would build a fresh
  // dictionary-mode object per request), starting with the line's own `ts` and `evt` so it is
  // serialised as it is (log.ts `auditRecord`). The key order, hence the line, is the same.
  const f: { ts: string, evt: 'inference', [k: string]: unknown } = {
    ts: auditTime(),
    evt: 'inference',
    request_id: x.rq.id,
    sub: x.principal?.sub,
    email: x.principal?.email,
    path: x.rq.path,
    model: x.model === '' ? null : x.model,
    upstream: up?.name ?? null,
    upstream_model: x.upstreamModel ?? undefined,
    upstream_request_id: x.upstreamRequestId,
    status,
    ms: Math.round(ms),
    bytes: x.out.bytesOut,
    attempts: x.tries,
    input_tokens: u?.input_tokens,
    output_tokens: u !== null ? u.output_tokens : undefined,
    cache_read_tokens: u?.cache_read_input_tokens,
    cache_write_tokens: u?.cache_creation_input_tokens,
    billing_group: x.billingGroup,
    abort: x.abortReason,
  }
  if (x.deps.loadTest) f.load_test = true
  if (cri !== undefined) {
    f.cri = true
    f.org = cri.org
    f.act = cri.act
    f.upstream_kind = up === null ? undefined : up.sanitizeErrors ? 'cloud' : 'anthropic'
  }
  if (extra !== null) for (const k in extra) f[k] = extra[k]
  auditRecord(f)
}
