/**
 * What the hot path needs from an upstream, whatever provider it is.
 *
 * An upstream turns one client request into one outgoing HTTP request (`prepare`: URL, headers,
 * credential, body rewrites) and says how to read the answer: Anthropic-shaped upstreams stream
 * SSE through untouched; others supply a `decoder` that re-emits their stream as Anthropic SSE.
 * The request itself is sent through `dispatcher` with undici's handler API, so a provider that
 * needs no socket at all (the built-in mock) only has to implement `dispatch`.
 */
import type { Dispatcher } from 'undici'

/** The part of an undici dispatcher the hot path uses (the mock upstream implements just this). */
export interface Sender {
  dispatch (opts: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean
  close (): Promise<void>
}
import type { Principal } from '../../session/token.js'
import type { ScannedRequest } from '../json-scan.js'

export type Endpoint = 'messages' | 'count_tokens'

/** One attempt's input, shared by every upstream tried for the request. */
export interface UpstreamCall {
  readonly endpoint: Endpoint
  /** Raw query string from the client ('' when none), e.g. `beta=true`. */
  readonly query: string
  /**
   * Client headers already filtered for forwarding (lib/proxy/headers.ts). Built for this attempt
   * alone (`Failover.callHeaders`): an upstream may complete it in place and send it as its own
   * outgoing headers instead of copying it.
   */
  readonly headers: Record<string, string>
  /** The client's body bytes, unchanged. */
  readonly body: Buffer
  readonly scan: ScannedRequest
  /** The model id this upstream knows the model by. */
  readonly model: string
  /** True when `model` differs from the body's `model` (the body must be rewritten). */
  readonly rewriteModel: boolean
  /** True when the body must lose its top-level `tags` member before this upstream. */
  readonly stripTags: boolean
  readonly principal: Principal
}

/** The outgoing request. `path` includes the query string. */
export interface Outgoing {
  readonly origin: string
  readonly path: string
  readonly headers: Record<string, string>
  readonly body: Buffer | string
}

/** Re-encodes a non-SSE upstream stream as Anthropic SSE bytes. */
export interface StreamDecoder {
  /** Response content type to send the client. */
  readonly contentType: string
  /**
   * Feed upstream bytes; returns SSE bytes to forward (possibly empty). Throws on corrupt input;
   * when good events precede the corruption in the same chunk, returns them and throws on the next
   * push() or at end().
   */
  push (chunk: Buffer): Buffer | null
  /** Upstream finished; returns any final bytes. */
  end (): Buffer | null
}

export interface Upstream {
  readonly name: string
  readonly provider: string
  /** Cloud upstreams get gateway-authored error messages (their text can leak account ids). */
  readonly sanitizeErrors: boolean
  /** Whether this upstream's streams need gateway pings during silent gaps (Anthropic sends its own). */
  readonly needsPings: boolean
  readonly dispatcher: Sender
  /** Build the outgoing request, or throw a GatewayError (e.g. 501 for an unsupported endpoint) to fail over. */
  prepare (call: UpstreamCall): Outgoing | Promise<Outgoing>
  /** A decoder for a successful response with these headers, or null to pass bytes through. */
  decoder? (status: number, contentType: string | undefined, requestId: string): StreamDecoder | null
  /** Forget a cached credential after a 401/403 (cloud credential chains); optional. */
  invalidateCredentials? (): void
  close (): Promise<void>
}
