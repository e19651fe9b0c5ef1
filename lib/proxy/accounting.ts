/**
 * The seam between the hot path and spend control. The hot path asks `admit` before proxying a
 * `/v1/messages` request (which may refuse it with a 429 `billing_error`), adds `headers` to a
 * successful response, and calls `settle` exactly once when the request is over — with the usage
 * the upstream reported, or an estimate when the stream was cut short.
 *
 * While a capped response streams, the hot path meters its output as it passes (an estimate from
 * the bytes, sse-usage.ts) and calls `outputCheck` each time that output passes the count the
 * previous answer named (first: the request's `max_tokens`). Spend control grows the request's
 * reservation when the stream runs past it (a misbehaving upstream ignoring `max_tokens`), and
 * answers 0 when it cannot because the cap is reached: the hot path then cuts the stream with an
 * SSE `error` event and settles what was streamed.
 *
 * With `admin` in the config, each HTTP worker uses lib/spend/accounting.ts (budget leases,
 * usage headers, metering). Without it there are no caps and no metering: `NO_ACCOUNTING` is used
 * and costs nothing per request.
 */
import type { Principal } from '../session/token.js'
import type { Usage } from './sse-usage.js'

/** What the spend module keeps between `admit` and `settle` (opaque to the hot path). */
export interface Admission { readonly __admission: true }

export interface AdmitRequest {
  /** The model id the client asked for. */
  readonly model: string
  /** Built-in family key when recognised (pricing), else null. */
  readonly family: string | null
  readonly maxTokens: number | undefined
  /** Request body size in bytes (for a worst-case input estimate). */
  readonly bodyBytes: number
  /** The billing group named in the request's tags, when `admin.billing_group_tag` is set. */
  readonly billingGroup: string | undefined
  readonly requestId: string
}

export interface Outcome {
  readonly requestId: string
  /** Upstream that served the request (null when none answered). */
  readonly upstream: string | null
  readonly provider: string | null
  /** Model id sent upstream, and the id the client asked for. */
  readonly upstreamModel: string | null
  readonly clientModel: string
  readonly family: string | null
  readonly status: number
  /** Reported usage, or null when none was seen. */
  readonly usage: Usage | null
  /** Output tokens to bill when the terminal count never arrived. */
  readonly estimatedOutputTokens: number
  readonly aborted: boolean
  readonly billingGroup: string | undefined
}

export interface Accounting {
  /** Admit (or refuse with a thrown GatewayError) before proxying. May be async when a budget lease must be fetched. */
  admit (p: Principal, r: AdmitRequest): Admission | null | Promise<Admission | null>
  /**
   * `anthropic-ratelimit-unified-*` headers for a successful response, or null for an uncapped
   * principal. `sofar`, when given, is what the request has used by the time the headers are
   * written; its cost counts as spent, so the request that crosses a threshold reports it.
   */
  headers (a: Admission | null, sofar?: Outcome): Record<string, string> | null
  /** Called exactly once per admitted request when it is over. */
  settle (a: Admission | null, p: Principal, o: Outcome): void
  /**
   * The stream `o` (usage so far, output estimated) has passed the output count this was last
   * asked for. Answers the output count at which to ask again (Infinity: never), or 0 when the
   * stream must be cut because the cap is reached; a promise when a lease must be asked first
   * (the hot path holds the upstream meanwhile).
   */
  outputCheck (a: Admission | null, p: Principal, o: Outcome): number | Promise<number>
}

export const NO_ACCOUNTING: Accounting = {
  admit: () => null,
  headers: () => null,
  settle: () => {},
  outputCheck: () => Infinity,
}
