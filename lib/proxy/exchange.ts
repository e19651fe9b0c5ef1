/**
 * One inference request's shared record: who asked, for what, and how it ended. Each concern keeps
 * its own state in its own piece — the client output in `Output` (bridge.ts), the failover state
 * in `Failover` (attempts.ts), a committed answer's decoding and metering in `Answer`
 * (answer.ts) — and this record holds only what several of them and the final settle/audit read.
 *
 * Invariants: fields are set once in order (admission → an attempt → an answer); `settled` turns
 * true exactly once (settle.ts `done`), after which nothing writes to the client or spend control.
 */
import type { Req } from '../http/request.js'
import type { Principal } from '../session/token.js'
import type { Accounting, Admission } from './accounting.js'
import type { MessagesDeps } from './admission.js'
import { Output, type ClientResponse } from './bridge.js'
import type { ScannedRequest } from './json-scan.js'
import type { UsageTap } from './sse-usage.js'
import type { Endpoint, Upstream } from './upstreams/types.js'

export class Exchange {
  readonly out: Output
  principal!: Principal
  body!: Buffer
  scan!: ScannedRequest
  model = ''
  family: string | null = null
  billingGroup: string | undefined = undefined
  admission: Admission | null = null
  /** The upstream of the attempt in flight or last made, and the model id it was asked for. */
  upstream: Upstream | null = null
  upstreamModel: string | null = null
  upstreamRequestId: string | undefined = undefined
  /** Attempts started (the audit's `attempts`; > 0 once the request reached the failover loop). */
  tries = 0
  /** The upstream whose half-open probe this request holds (upstream pools), or -1. */
  probe = -1
  /** An answer's status line went to the client: nothing is retried from here on. */
  committed = false
  /** Usage read from a passing SSE stream, or a JSON answer's bytes (messages endpoint, 2xx). */
  tap: UsageTap | null = null
  json: Buffer[] | null = null
  jsonBytes = 0
  abortReason: string | undefined = undefined
  settled = false
  constructor (res: ClientResponse, readonly rq: Req, readonly endpoint: Endpoint, readonly deps: MessagesDeps) {
    this.out = new Output(res, rq)
  }

  get accounting (): Accounting { return this.deps.accounting }
  get cri (): boolean { return this.principal.cri !== undefined }
}
