/**
 * POST /v1/messages and POST /v1/messages/count_tokens — the hot path, socket to upstream and back.
 *
 *   1. (synchronous, in the uWS handler) authenticate the bearer from the session cache — no
 *      database, no await, no body byte read (a refusal closes the connection) — then attach the
 *      body reader (http/body.ts: in-flight cap, rate deadline);
 *   2. scan the body for `model`/`max_tokens`/`tags` without parsing it (json-scan.ts), check the
 *      model against the developer's policy and route it (routing.ts, cached per model string);
 *   3. ask spend control to admit the request (worst-case reservation; in memory);
 *   4. send it to the first candidate upstream with undici's low-level handler API. Until a byte
 *      has reached the client, connection errors, header timeouts and 5xx/429/401/403/404 answers
 *      fail over to the next candidate; afterwards nothing is retried. An attempt on another
 *      provider than the session's home gets the body and betas that provider accepts
 *      (crossing.ts: foreign thinking signatures out; a refused beta or body field dropped and
 *      the attempt repeated);
 *   5. stream the reply: each upstream chunk is passed to the client as it arrives, as the same
 *      Buffer (no re-encoding). What one read from the upstream socket delivers (status line,
 *      headers, events, the end) is queued and written at the end of that tick in one corked
 *      write — one send to the client where a callback-by-callback write would make three. When
 *      the client's socket is full (`res.write` → false) the upstream is paused (the next chunk
 *      undici hands over says so) until uWS says it is writable again, so a slow reader never
 *      grows memory beyond the socket buffers and one read. A client abort aborts the upstream
 *      request at once. An upstream failure mid-stream ends the client's stream with an
 *      Anthropic `error` event;
 *   6. at the end: settle spend with the usage read from the passing stream (sse-usage.ts), and
 *      write one `inference` audit line.
 * A capped stream is metered as it passes: when its output passes the count spend control last
 * named (first the request's `max_tokens`), spend control is asked again (`outputCheck`), with the
 * upstream held while it asks a lease. When it refuses (the stream ran past its reservation and
 * the cap is reached) the stream is cut at the next event boundary with an SSE `error` event, the
 * upstream request is aborted, and what reached the client is settled.
 * Silent SSE streams from upstreams that need them (the cloud paths; the Anthropic API sends its
 * own, relayed as they come) get an `event: ping` every 15 s from one shared per-worker ticker (no
 * per-request timers), only at event boundaries and only while the client is keeping up.
 * A customer-routed-inference bearer (`deps.cri`, lib/cri) replaces step 1: its key-free checks run
 * synchronously, its signature check runs while the body is read, and the body is then screened
 * (re-serialised, policy webhook). Such a principal skips the model policy (2) and spend control
 * (3, 6), gets generic envelopes for every upstream error, and `x-cri-upstream-kind: cloud` on
 * answers from cloud providers.
 */
import type { HttpResponse } from 'uWebSockets.js'
import { GatewayError, errorEvent, upstreamFailure } from '../errors.js'
import { readBody } from '../http/body.js'
import type { Req } from '../http/request.js'
import { finish } from '../http/request.js'
import { sendError, statusLine, writeBaseHeaders } from '../http/respond.js'
import { audit, ops } from '../log.js'
import { recordRequest, recordTokens, recordUpstream, recordUpstreamTokens } from '../telemetry/metrics.js'
import type { Principal } from '../session/token.js'
import type { Accounting, Admission, Outcome } from './accounting.js'
import { crossedBody, withoutBetas } from './crossing.js'
import { refusedField } from './crossing-fields.js'
import { finalFailure, isFailoverStatus, refusedBeta, type Attempt } from './failover.js'
import { checkForwarded, forwardHeaders, relayable } from './headers.js'
import { echo } from './echo.js'
import { ScanError, scanRequest, type ScannedRequest } from './json-scan.js'
import type { UpstreamPools } from './pools/index.js'
import type { Candidate, ModelRouter } from './routing.js'
import { UsageTap, usageFromJson, type Usage } from './sse-usage.js'
import type { Endpoint, StreamDecoder, Upstream, UpstreamCall } from './upstreams/types.js'

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

/** load_test_mode: `x-load-test-user: N` meters the request as developer `<sub>+loadtest-N`. */
const LOAD_TEST_USER = 'x-load-test-user'
const LOAD_TEST_USER_VALUE = /^\d{1,7}$/
/** The Claude Code session a request belongs to: the key of upstream pool affinity. */
const SESSION_ID = 'x-claude-code-session-id'

const MAX_ERROR_BODY = 64 * 1024
const MAX_JSON_BODY = 8 * 1024 * 1024
const PING = Buffer.from('event: ping\ndata: {"type": "ping"}\n\n')
/** Silence before a ping, ms (WEIR_SSE_PING_MS overrides, e.g. in tests). Default 15 s. */
const PING_AFTER_MS = Number(process.env.WEIR_SSE_PING_MS) > 0 ? Number(process.env.WEIR_SSE_PING_MS) : 15_000
const TICK_MS = Math.max(50, Math.min(5000, Math.floor(PING_AFTER_MS / 3)))
const TAGS_BETA = /^request-tags-/
/** Response header naming where a customer-routed request was served (only `cloud` is sent). */
const CRI_KIND = 'x-cri-upstream-kind'
/** Betas one request may shed after crossing providers (each costs one repeated attempt). */
const MAX_DROPPED_BETAS = 4

/** Everything one request carries through its attempts. One object, fixed shape. */
class Flow {
  principal!: Principal
  body!: Buffer
  scan!: ScannedRequest
  model = ''
  family: string | null = null
  candidates: readonly Candidate[] = []
  next = 0
  admission: Admission | null = null
  billingGroup: string | undefined = undefined
  upstream: Upstream | null = null
  /** Index of `upstream` in the configured list (-1 before the first attempt). */
  upIndex = -1
  /** The upstream whose half-open probe this request holds (upstream pools), or -1. */
  probe = -1
  upstreamModel: string | null = null
  abort: ((reason: Error) => void) | null = null
  resume: (() => void) | null = null
  committed = false
  sse = false
  /** The client's socket pushed back; undici is told to pause with the next chunk. */
  paused = false
  /** undici was paused (an onData returned false) and must be resumed when the client drains. */
  held = false
  /** Output queued for this tick's write: the status line and headers, chunks, the end. */
  head: Array<string | Buffer> | null = null
  /**
   * A capped stream's usage headers wait for its first bytes (`message_start` carries the input
   * usage), so they count what the request itself costs; added to `head` at that flush.
   */
  spendHead = false
  out: Buffer[] = []
  ended = false
  queued = false
  atBoundary = true
  lastWrite = 0
  status = 0
  bytesOut = 0
  tap: UsageTap | null = null
  json: Buffer[] | null = null
  jsonBytes = 0
  decoder: StreamDecoder | null = null
  attempts: Attempt[] = []
  upstreamRequestId: string | undefined = undefined
  abortReason: string | undefined = undefined
  settled = false
  /** The upstream's cached credential was refreshed after a 401/403 and the attempt repeated once. */
  credentialRetry = false
  /** The upstream whose provider is taken to have produced the earlier turns (crossing.ts), or -1. */
  home = -1
  /** The current attempt's provider differs from `home`'s (crossing.ts). */
  crossed = false
  /** The body for crossing attempts, built on the first one. */
  crossBody: { body: Buffer, scan: ScannedRequest } | null = null
  /** Betas a crossing attempt was refused over, left out when it is repeated (crossing.ts). */
  dropBetas: string[] = []
  /** Body fields a crossing attempt was refused over, left out when it is repeated (crossing-fields.ts). */
  dropFields: string[] = []
  /** Output tokens (estimated) past which spend control is asked again; Infinity for uncapped requests. */
  checkAt = Infinity
  /** Spend control is deciding (a lease call): the upstream is held, `heldChunk` unsent. */
  checking = false
  heldChunk: Buffer | null = null
  /** The stream is being cut: bytes are passed only up to the next event boundary. */
  cutting = false
  cutBytes = 0
  constructor (readonly res: HttpResponse, readonly rq: Req, readonly endpoint: Endpoint, readonly deps: MessagesDeps) {}
}

// ---- shared per-worker ping ticker -------------------------------------------------------------

let clock = Date.now()
const live = new Set<Flow>()
let ticker: NodeJS.Timeout | null = null
function track (f: Flow): void {
  live.add(f)
  if (ticker === null) {
    ticker = setInterval(() => {
      clock = Date.now()
      for (const x of live) {
        if (!x.paused && x.atBoundary && clock - x.lastWrite >= PING_AFTER_MS) send(x, PING)
      }
      if (live.size === 0 && ticker !== null) { clearInterval(ticker); ticker = null }
    }, TICK_MS)
    ticker.unref()
  }
}

// ---- output: everything queued in one tick goes out in one corked write ----------------------

/** Queue bytes for the client; they are written with the rest of this tick's output. */
function send (f: Flow, chunk: Buffer): void {
  f.out.push(chunk)
  f.bytesOut += chunk.length
  f.lastWrite = clock
  f.atBoundary = chunk.length >= 2 && chunk[chunk.length - 1] === 0x0a && chunk[chunk.length - 2] === 0x0a
  schedule(f)
}

let dirty: Flow[] = []
function schedule (f: Flow): void {
  if (f.queued) return
  f.queued = true
  if (dirty.push(f) === 1) queueMicrotask(flushAll)
}
function flushAll (): void {
  const list = dirty
  dirty = []
  for (const f of list) flush(f)
}

/** Write what is queued (status line and headers, chunks; the end with `last`) inside one cork: one send. */
function flush (f: Flow, last = false): void {
  f.queued = false
  if (f.rq.aborted) { f.head = null; f.out = []; return }
  if (f.head === null && f.out.length === 0 && !last) return
  // A capped stream's head goes out with its first bytes (or the end), with its usage headers.
  if (f.spendHead && f.head !== null && f.out.length === 0 && !last) return
  if (f.spendHead && f.head !== null) {
    f.spendHead = false
    const spend = f.deps.accounting.headers(f.admission, outcome(f, f.status, 0))
    if (spend !== null) for (const k in spend) f.head.push(k, spend[k] as string)
  }
  const res = f.res
  const head = f.head
  const out = f.out
  let ok = true
  f.head = null
  f.out = []
  res.cork(() => {
    if (head !== null) {
      res.writeStatus(statusLine(f.status))
      writeBaseHeaders(res, f.rq)
      for (let i = 0; i < head.length; i += 2) res.writeHeader(head[i] as string, head[i + 1] as Buffer | string)
    }
    // A write that pushes back still queues its bytes in uWS: write them all, then stop the upstream.
    for (let i = 0; i < out.length; i++) if (!res.write(out[i] as Buffer)) ok = false
    if (last) { f.ended = true; res.end() }
  })
  if (!ok && !f.ended && !f.paused) {
    f.paused = true
    res.onWritable(() => {
      f.paused = false
      if (f.held && !f.checking) {
        f.held = false
        const r = f.resume
        if (r !== null && !f.rq.aborted && !f.settled) r()
      }
      return true
    })
  }
}

/** End the client's response after what is queued, now. */
function end (f: Flow): void {
  if (!f.ended) flush(f, true)
}

// ---- request entry -----------------------------------------------------------------------------

export function handleMessages (res: HttpResponse, rq: Req, endpoint: Endpoint, deps: MessagesDeps): Promise<void> {
  const f = new Flow(res, rq, endpoint, deps)
  let criP: Promise<Principal> | null = null
  try {
    const criToken = deps.cri !== null ? deps.cri.tokenOf(rq) : null
    if (criToken !== null) criP = (deps.cri as CriAdmission).authenticate(rq, criToken)
    else f.principal = deps.authenticate(rq) // from the headers alone: a refusal reads no body byte
  } catch (err) {
    sendError(res, rq, err)
    return Promise.resolve()
  }
  const fake = deps.loadTest && criP === null ? rq.headers[LOAD_TEST_USER] : undefined
  if (fake !== undefined) {
    if (!LOAD_TEST_USER_VALUE.test(fake)) {
      reject(f, new GatewayError('GW_BAD_REQUEST', `${LOAD_TEST_USER} must be a whole number of at most 7 digits`))
      return Promise.resolve()
    }
    f.principal = { ...f.principal, sub: `${f.principal.sub}+loadtest-${Number(fake)}` }
  }
  const bodyP = readBody(res, rq, deps.maxBodyBytes)
  rq.onAbort = () => {
    f.abortReason = 'client_closed'
    const a = f.abort
    f.abort = null
    if (a !== null) a(new Error('client closed the connection'))
    else if (!f.settled && f.next > 0) done(f, 499)
  }
  if (criP !== null) return startCri(f, criP, bodyP)
  return bodyP.then((body) => start(f, body), (err: unknown) => { sendError(res, rq, err) })
}

/** A CRI bearer: the signature is checked while the body arrives; then the body is screened. */
async function startCri (f: Flow, criP: Promise<Principal>, bodyP: Promise<Buffer>): Promise<void> {
  let body: Buffer
  try {
    [f.principal, body] = await Promise.all([criP, bodyP])
  } catch (err) {
    sendError(f.res, f.rq, err)
    return
  }
  try {
    body = await (f.deps.cri as CriAdmission).screen(f.rq, f.principal, body)
  } catch (err) {
    if (f.rq.aborted) return
    if (err instanceof GatewayError) { reject(f, err); return }
    throw err
  }
  await start(f, body)
}

function reject (f: Flow, err: GatewayError): void {
  // The spend 429 carries no request_id: the protocol shows the client printing its body as is.
  sendError(f.res, f.rq, err, err.type === 'billing_error' ? { requestId: false } : undefined)
  auditInference(f, err.status)
}

async function start (f: Flow, body: Buffer): Promise<void> {
  if (f.rq.aborted) return
  f.body = body
  const badHeader = checkForwarded(f.rq.headers)
  if (badHeader !== null) { reject(f, badHeader); return }
  try {
    f.scan = scanRequest(body)
  } catch (err) {
    reject(f, new GatewayError('GW_INVALID_JSON', err instanceof ScanError ? `invalid request body: ${err.message}` : 'invalid JSON'))
    return
  }
  const m = f.scan.model
  if (m === undefined || m === '') { reject(f, new GatewayError('GW_MODEL_REQUIRED')); return }
  if (m === null) { reject(f, new GatewayError('GW_INVALID_JSON', 'model must be a string')); return }
  f.model = m
  const { deps } = f
  const cri = f.principal.cri !== undefined
  try {
    if (!cri) deps.policy.checkModel(f.principal, m)
  } catch (err) {
    if (err instanceof GatewayError) { reject(f, err); return }
    throw err
  }
  const route = deps.models.resolve(m)
  f.family = route.entry?.key ?? null
  if (route.candidates.length === 0) {
    reject(f, new GatewayError('GW_MODEL_UNKNOWN', `model ${echo(m)} is not available: ${route.reasons.join('; ')}`))
    return
  }
  f.candidates = route.candidates
  if (deps.upstreamGroups.some((g) => g !== null)) {
    const mine = f.principal.groups
    f.candidates = route.candidates.filter((c) => {
      const g = deps.upstreamGroups[c.upstream]
      return g === null || g === undefined || mine.some((x) => g.has(x))
    })
    if (f.candidates.length === 0) {
      reject(f, new GatewayError('GW_MODEL_UNKNOWN', `model ${echo(m)} is not available to your groups on this gateway`))
      return
    }
  }
  if (deps.billingGroupTag !== undefined && f.scan.tags !== null) {
    const v = (f.scan.tags.value as Record<string, unknown> | null)?.[deps.billingGroupTag]
    if (typeof v === 'string' && f.principal.groups.includes(v)) f.billingGroup = v
  }
  if (f.endpoint === 'messages' && !cri) {
    try {
      const a = deps.accounting.admit(f.principal, { model: m, family: f.family, maxTokens: f.scan.maxTokens, bodyBytes: body.length, billingGroup: f.billingGroup, requestId: f.rq.id })
      f.admission = a instanceof Promise ? await a : a
    } catch (err) {
      if (err instanceof GatewayError) { reject(f, err); return }
      throw err
    }
    if (f.rq.aborted) { done(f, 499); return }
  }
  // Upstream pools order the candidates (and may hand this request a half-open probe) only now,
  // right before the first attempt, so a refused request never holds a probe.
  if (deps.pools !== null) {
    const plan = deps.pools.plan(f.candidates, f.rq.headers[SESSION_ID] ?? f.principal.sub)
    f.candidates = plan.candidates
    f.probe = plan.probe
    f.home = plan.home
  }
  if (f.home < 0) f.home = f.candidates[0]?.upstream ?? -1
  attempt(f)
}

// ---- attempts and failover ---------------------------------------------------------------------

function attempt (f: Flow): void {
  if (f.rq.aborted) { done(f, 499); return }
  const cand = f.candidates[f.next++]
  if (cand === undefined) { fail(f); return }
  const up = f.deps.upstreams[cand.upstream] as Upstream
  f.upstream = up
  f.upIndex = cand.upstream
  f.upstreamModel = cand.model
  const home = f.deps.upstreams[f.home]
  f.crossed = home !== undefined && home.provider !== up.provider
  let body = f.body
  let scan = f.scan
  if (f.crossed) {
    if (f.crossBody === null) {
      const b = crossedBody(f.body, f.dropFields)
      f.crossBody = { body: b, scan: b === f.body ? f.scan : scanRequest(b) }
    }
    body = f.crossBody.body
    scan = f.crossBody.scan
  }
  const call: UpstreamCall = {
    endpoint: f.endpoint,
    query: f.rq.query,
    headers: callHeaders(f),
    body,
    scan,
    model: cand.model,
    rewriteModel: cand.rewrite,
    stripTags: f.deps.billingGroupTag !== undefined && f.scan.tags !== null,
    principal: f.principal,
  }
  let out
  try {
    out = up.prepare(call)
  } catch (err) {
    prepareFailed(f, up, err)
    return
  }
  if (out instanceof Promise) {
    out.then((o) => { dispatch(f, up, o.origin, o.path, o.headers, o.body) }, (err: unknown) => { prepareFailed(f, up, err) })
    return
  }
  dispatch(f, up, out.origin, out.path, out.headers, out.body)
}

/**
 * An upstream could not even build the request. A client error it found in the request (a 4xx
 * other than 501) is the answer; anything else (credentials, an unsupported endpoint) fails over.
 */
function prepareFailed (f: Flow, up: Upstream, err: unknown): void {
  if (err instanceof GatewayError && err.status >= 400 && err.status < 500) {
    if (f.rq.aborted) { done(f, 499); return }
    sendError(f.res, f.rq, err)
    done(f, err.status)
    return
  }
  f.attempts.push({ upstream: up, error: err })
  attempt(f)
}

function callHeaders (f: Flow): Record<string, string> {
  const h = forwardHeaders(f.rq.headers)
  if (f.deps.billingGroupTag !== undefined && h['anthropic-beta'] !== undefined) {
    const kept = h['anthropic-beta'].split(',').map((s) => s.trim()).filter((s) => s !== '' && !TAGS_BETA.test(s))
    if (kept.length === 0) delete h['anthropic-beta']
    else h['anthropic-beta'] = kept.join(',')
  }
  if (f.crossed && f.dropBetas.length > 0) {
    const kept = withoutBetas(h['anthropic-beta'], f.dropBetas)
    if (kept === undefined) delete h['anthropic-beta']
    else h['anthropic-beta'] = kept
  }
  return h
}

function dispatch (f: Flow, up: Upstream, origin: string, path: string, headers: Record<string, string>, body: Buffer | string): void {
  if (f.rq.aborted) { done(f, 499); return }
  f.deps.pools?.begin(f.upIndex)
  up.dispatcher.dispatch({ origin, path, method: 'POST', headers, body }, new AttemptHandler(f, up))
}

/** undici handler for one attempt (the low-level callback API: no stream objects, no header parsing). */
class AttemptHandler {
  private discard = false
  private errStatus = 0
  private errHeaders: Buffer[] = []
  private errChunks: Buffer[] = []
  private errBytes = 0
  private readonly t0 = performance.now()
  /** The upstream's index, for upstream pools (in flight until the attempt ends). */
  private readonly idx: number
  private open = true
  private reported = false
  constructor (private readonly f: Flow, private readonly up: Upstream) { this.idx = f.upIndex }

  /** Tell upstream pools how this attempt went: an answer's status, or none (status 0) — once. */
  private health (status: number, raw: Buffer[]): void {
    const pools = this.f.deps.pools
    if (pools === null || this.reported) return
    this.reported = true
    const probe = this.f.probe === this.idx
    if (probe) this.f.probe = -1
    if (status > 0) pools.answered(this.idx, status, raw, performance.now() - this.t0, probe)
    else if (!this.f.rq.aborted) pools.failed(this.idx, probe)
    else if (probe) pools.releaseProbe(this.idx)
  }

  /** The attempt is over (for upstream pools' in-flight counts). */
  private close (): void {
    if (this.open) { this.open = false; this.f.deps.pools?.end(this.idx) }
  }

  onConnect (abort: (reason: Error) => void): void {
    if (this.f.rq.aborted) { abort(new Error('client closed the connection')); return }
    this.f.abort = abort
  }

  onHeaders (status: number, raw: Buffer[], resume: () => void): boolean {
    const f = this.f
    if (f.rq.aborted) return false
    f.resume = resume
    recordUpstream(this.up.name, status, performance.now() - this.t0)
    this.health(status, raw)
    const retryable = isFailoverStatus(status)
    if (retryable || (status >= 400 && (this.up.sanitizeErrors || f.principal.cri !== undefined))) {
      // Collect the (small) error body: either fail over, or answer with a sanitised copy.
      this.discard = true
      this.errStatus = status
      this.errHeaders = raw
      return true
    }
    f.status = status
    // One pass over the raw headers: read the two we need, keep the relayable ones for the client.
    const ok = status >= 200 && status < 300
    const head: Array<string | Buffer> = []
    let ct: string | undefined
    for (let i = 0; i < raw.length; i += 2) {
      const k = (raw[i] as Buffer).toString('latin1').toLowerCase()
      if (k === 'content-type') ct = (raw[i + 1] as Buffer).toString('latin1')
      else if (k === 'request-id') f.upstreamRequestId = (raw[i + 1] as Buffer).toString('latin1')
      if (relayable(k)) head.push(k, raw[i + 1] as Buffer)
    }
    f.decoder = ok && this.up.decoder !== undefined ? this.up.decoder(status, ct, f.rq.id) : null
    if (f.decoder !== null) {
      // The client gets the decoder's content type instead of the upstream's.
      for (let i = head.length - 2; i >= 0; i -= 2) if (head[i] === 'content-type') head.splice(i, 2)
      head.push('content-type', f.decoder.contentType)
    }
    const outType = f.decoder !== null ? f.decoder.contentType : ct
    f.sse = outType !== undefined && outType.startsWith('text/event-stream')
    if (ok && f.endpoint === 'messages') {
      if (f.sse) {
        f.tap = new UsageTap()
        if (f.admission !== null) f.checkAt = f.scan.maxTokens !== undefined && f.scan.maxTokens > 0 ? f.scan.maxTokens : 65_536
      } else f.json = []
    }
    if (ok && f.endpoint === 'messages' && f.tap !== null && f.admission !== null) f.spendHead = true
    else {
      const spend = ok && f.endpoint === 'messages' ? f.deps.accounting.headers(f.admission) : null
      if (spend !== null) for (const k in spend) head.push(k, spend[k] as string)
    }
    if (f.principal.cri !== undefined && this.up.sanitizeErrors) head.push(CRI_KIND, 'cloud')
    f.head = head
    schedule(f)
    f.committed = true
    f.rq.started = true
    f.lastWrite = clock
    if (f.sse && this.up.needsPings) track(f)
    return true
  }

  onData (chunk: Buffer): boolean {
    const f = this.f
    if (f.rq.aborted) return false
    if (this.discard) {
      if (this.errBytes < MAX_ERROR_BODY) { this.errChunks.push(chunk); this.errBytes += chunk.length }
      return true
    }
    let out: Buffer | null = chunk
    if (f.decoder !== null) {
      try {
        out = f.decoder.push(chunk)
      } catch (err) {
        midStreamFailure(f, err)
        f.abort?.(err instanceof Error ? err : new Error(String(err)))
        return false
      }
      if (out === null || out.length === 0) return true
    }
    if (f.tap !== null) {
      if (f.cutting) { cutStream(f, out); return true }
      // Held for a lease: pause. Being cut: read on to the end of the event in progress.
      if (!passOutput(f, out)) return f.cutting && !f.settled
    } else {
      if (f.json !== null && f.jsonBytes < MAX_JSON_BODY) { f.json.push(out); f.jsonBytes += out.length }
      send(f, out)
    }
    if (!f.paused) return true
    f.held = true
    return false
  }

  onComplete (): void {
    const f = this.f
    f.abort = null
    this.close()
    if (this.discard) {
      if (f.rq.aborted) { done(f, 499); return }
      if ((this.errStatus === 401 || this.errStatus === 403) && this.up.invalidateCredentials !== undefined && !f.credentialRetry) {
        // A cached cloud credential may have expired early: fetch a fresh one and try this upstream again, once.
        f.credentialRetry = true
        this.up.invalidateCredentials()
        f.next--
        attempt(f)
        return
      }
      const errBody = Buffer.concat(this.errChunks)
      if (f.crossed && this.errStatus === 400) {
        // A crossing attempt refused over a beta the target lacks: the same upstream again without it.
        const beta = refusedBeta(errBody, callHeaders(f)['anthropic-beta'])
        if (beta !== undefined && f.dropBetas.length + f.dropFields.length < MAX_DROPPED_BETAS) {
          ops.warn(`upstream ${this.up.name} refused beta ${beta} after a provider crossing request_id=${f.rq.id}; repeating without it`)
          f.dropBetas.push(beta)
          f.next--
          attempt(f)
          return
        }
        const field = beta === undefined && f.crossBody !== null ? refusedField(errBody, f.crossBody.body) : undefined
        if (field !== undefined && !f.dropFields.includes(field) && f.dropBetas.length + f.dropFields.length < MAX_DROPPED_BETAS) {
          ops.warn(`upstream ${this.up.name} refused ${field} after a provider crossing request_id=${f.rq.id}; repeating without it`)
          f.dropFields.push(field)
          f.crossBody = null
          f.next--
          attempt(f)
          return
        }
      }
      f.attempts.push({ upstream: this.up, status: this.errStatus, headers: this.errHeaders, body: errBody })
      if (isFailoverStatus(this.errStatus)) attempt(f)
      else fail(f)
      return
    }
    if (f.rq.aborted) { done(f, 499); return }
    if (f.decoder !== null) {
      try {
        const tail = f.decoder.end()
        if (tail !== null && tail.length > 0) { f.tap?.push(tail); send(f, tail) }
      } catch (err) {
        midStreamFailure(f, err)
        return
      }
    }
    end(f)
    done(f, f.status)
  }

  onError (err: Error): void {
    const f = this.f
    f.abort = null
    if (!f.committed) this.health(0, [])
    this.close()
    if (f.rq.aborted) { done(f, 499); return }
    if (!f.committed) {
      recordUpstream(this.up.name, 0, performance.now() - this.t0)
      f.attempts.push({ upstream: this.up, error: err })
      attempt(f)
      return
    }
    midStreamFailure(f, err)
  }
}

// ---- metering a capped stream -------------------------------------------------------------------

/** Most bytes passed after a cut was decided, to reach the end of the event in progress. */
const MAX_CUT_TAIL = 64 * 1024

/**
 * What the request has used so far, `extra` more bytes included (for `outputCheck` and `settle`).
 * Output is billed from the byte estimate instead of the reported count when the stream was cut
 * short, or ran far past `max_tokens`.
 */
function outcome (f: Flow, status: number, extra: number): Outcome {
  const u = f.upstream
  // Far more streamed than max_tokens allows: the upstream's own count is not believed (the
  // margin keeps long-token replies, which the byte estimate over-counts, on the reported count).
  const max = f.scan?.maxTokens
  const over = f.tap !== null && max !== undefined && max > 0 && f.tap.projectedOutputTokens(0) > 2 * max + 64
  return {
    requestId: f.rq.id,
    upstream: u?.name ?? null,
    provider: u?.provider ?? null,
    upstreamModel: f.upstreamModel,
    clientModel: f.model,
    family: f.family,
    status,
    // An aborted stream still reported its input side in message_start: bill what was seen.
    usage: f.committed && f.status >= 200 && f.status < 300 ? usageOf(f) : null,
    estimatedOutputTokens: extra > 0 || over ? f.tap?.projectedOutputTokens(extra) ?? 0 : f.tap?.estimatedOutputTokens() ?? 0,
    aborted: extra > 0 || over || f.abortReason !== undefined,
    billingGroup: f.billingGroup,
  }
}

/**
 * Pass streamed output to the client within the count spend control named (`checkAt`). A chunk
 * that would go past it is split at event boundaries: the whole events that fit pass, then spend
 * control is asked again for the rest — so a fast upstream that delivers a whole stream in one
 * read is cut where the reservation ends, not before its first event nor after its last. After
 * an answer that does not cover the next event, that one event passes alone (progress is one
 * event per answer). True when all of `out` passed; false when the rest is held or being cut.
 */
function passOutput (f: Flow, out: Buffer, answered = false): boolean {
  const tap = f.tap as NonNullable<Flow['tap']>
  while (out.length > 0 && tap.projectedOutputTokens(out.length) > f.checkAt) {
    let k = fitting(f, out)
    if (k === 0 && answered) { k = boundaryEnd(out); if (k < 0) k = out.length }
    if (k > 0) {
      const part = out.subarray(0, k)
      tap.push(part)
      send(f, part)
      out = out.subarray(k)
      answered = false
      continue
    }
    // Ask for the next event only: the answer decides how far the stream may go, event by event.
    const next = boundaryEnd(out)
    if (!checkOutput(f, out, next < 0 ? out.length : next)) return false
    answered = true
  }
  if (out.length > 0) { tap.push(out); send(f, out) }
  return true
}

/** Length of the longest run of whole events at the start of `out` that stays within `checkAt`. */
function fitting (f: Flow, out: Buffer): number {
  const tap = f.tap as NonNullable<Flow['tap']>
  let k = 0
  for (;;) {
    const b = boundaryEnd(k === 0 ? out : out.subarray(k))
    if (b < 0 || tap.projectedOutputTokens(k + b) > f.checkAt) return k
    k += b
  }
}

/**
 * The next `need` bytes of `chunk` would take the stream's output past the count spend control
 * named: ask it again. True when the count was raised (the caller passes what fits); false when it
 * was dealt with here: the stream is being cut (the chunk passed up to its first event boundary),
 * or the upstream is held (with `chunk` unsent) until a lease answers.
 */
function checkOutput (f: Flow, chunk: Buffer, need: number): boolean {
  const r = f.deps.accounting.outputCheck(f.admission, f.principal, outcome(f, f.status, need))
  if (typeof r === 'number') {
    if (r > 0) { f.checkAt = r; return true }
    cutStream(f, chunk, true)
    return false
  }
  f.checking = true
  f.heldChunk = chunk
  f.held = true
  const go = (n: number): void => {
    f.checking = false
    const c = f.heldChunk as Buffer
    f.heldChunk = null
    if (f.settled || f.rq.aborted) return
    if (n === 0) {
      if (!cutStream(f, c, true)) return
    } else {
      f.checkAt = n
      if (!passOutput(f, c, true) && (f.checking || f.settled)) return
    }
    if (!f.paused && f.held) {
      f.held = false
      f.resume?.()
    }
  }
  r.then(go, (err: unknown) => { ops.error(`spend output check failed request_id=${f.rq.id}: ${err instanceof Error ? err.message : String(err)}`); go(Infinity) })
  return false
}

/**
 * Cut the stream: pass `chunk` only up to the end of the event in progress (nothing of it when the
 * client is at an event boundary), then an SSE `error` event and the end; abort the upstream and
 * settle what reached the client. True while more bytes are needed to reach a boundary.
 */
function cutStream (f: Flow, chunk: Buffer, first = false): boolean {
  if (first) { f.cutting = true; f.abortReason = 'spend_limit' }
  if (!f.atBoundary) {
    const k = boundaryEnd(chunk)
    const part = k < 0 ? chunk : chunk.subarray(0, k)
    f.tap?.push(part)
    send(f, part)
    f.cutBytes += part.length
    if (k < 0 && f.cutBytes < MAX_CUT_TAIL) return true
  }
  const a = f.abort
  f.abort = null
  streamError(f, new GatewayError('GW_SPEND_BLOCKED', 'spend limit reached: the response ran past what was reserved for it and was cut'))
  done(f, f.status)
  a?.(new Error('stream cut at the spend limit'))
  return false
}

/** Offset just past the first SSE event boundary in `b` (LF or CRLF lines), or -1. */
function boundaryEnd (b: Buffer): number {
  const lf = b.indexOf('\n\n')
  const crlf = b.indexOf('\r\n\r\n')
  if (lf < 0) return crlf < 0 ? -1 : crlf + 4
  return crlf < 0 || lf + 2 < crlf + 4 ? lf + 2 : crlf + 4
}

/** End the client's SSE stream with an `error` event (after a blank line if an event was left unfinished). */
function streamError (f: Flow, err: GatewayError): void {
  send(f, Buffer.from(`${f.atBoundary ? '' : '\n\n'}${errorEvent(err, f.rq.id)}`))
  end(f)
}

/** The upstream broke after the client got the status line: end the stream as cleanly as we can. */
function midStreamFailure (f: Flow, err: unknown): void {
  if (f.settled) return
  ops.warn(`upstream ${f.upstream?.name ?? '?'} failed mid-stream request_id=${f.rq.id}: ${err instanceof Error ? err.message : String(err)}`)
  f.abortReason = 'upstream_error'
  if (f.rq.aborted) { done(f, 499); return }
  if (f.sse) {
    const e = upstreamFailure(err)
    streamError(f, e.code === 'GW_UPSTREAM_TIMEOUT' ? new GatewayError(e.code, 'the upstream went silent while streaming') : new GatewayError('GW_UPSTREAM_UNAVAILABLE', 'the upstream connection failed while streaming'))
  } else {
    flush(f)
    if (!f.rq.aborted) f.res.cork(() => f.res.close())
  }
  done(f, f.status)
}

/** No attempt succeeded: answer with the most useful remembered failure (failover.ts decides). */
function fail (f: Flow): void {
  const cri = f.principal.cri !== undefined
  const r = finalFailure(f.attempts, f.rq.id, f.endpoint, f.deps.upstreams.length, cri)
  const cloud = cri && f.upstream?.sanitizeErrors === true
  if (f.rq.aborted) { done(f, 499); return }
  const res = f.res
  if (r.relay !== null) {
    const { status, headers, body } = r.relay
    res.cork(() => {
      res.writeStatus(statusLine(status))
      writeBaseHeaders(res, f.rq)
      for (let i = 0; i < headers.length; i += 2) {
        const name = (headers[i] as Buffer).toString('latin1').toLowerCase()
        if (relayable(name)) res.writeHeader(name, headers[i + 1] as Buffer)
      }
      if (cloud) res.writeHeader(CRI_KIND, 'cloud')
      res.end(body)
    })
    f.rq.started = true
    f.status = status
    done(f, status)
    return
  }
  const err = r.error as GatewayError
  sendError(res, f.rq, err)
  f.status = err.status
  done(f, err.status)
}

// ---- the end of a request ----------------------------------------------------------------------

function usageOf (f: Flow): Usage | null {
  if (f.tap !== null) return f.tap.usage
  if (f.json !== null && f.json.length > 0) return usageFromJson(Buffer.concat(f.json))?.usage ?? null
  return null
}

function settle (f: Flow, status: number): void {
  if (f.settled) return
  f.settled = true
  if (f.endpoint !== 'messages' || f.principal.cri !== undefined) return
  f.deps.accounting.settle(f.admission, f.principal, outcome(f, status, 0))
}

function done (f: Flow, status: number): void {
  if (f.settled) return
  live.delete(f)
  if (f.probe >= 0) { f.deps.pools?.releaseProbe(f.probe); f.probe = -1 }
  settle(f, status)
  auditInference(f, status)
  finish(f.rq)
}

function auditInference (f: Flow, status: number): void {
  const u = f.settled ? usageOf(f) : null
  const ms = performance.now() - f.rq.t0
  recordRequest(f.endpoint === 'messages' ? '/v1/messages' : '/v1/messages/count_tokens', status, ms, f.upstream?.name)
  if (u !== null) recordTokens(f.model, u.input_tokens, u.output_tokens, u.cache_read_input_tokens, u.cache_creation_input_tokens)
  if (u !== null && f.upstream !== null) recordUpstreamTokens(f.upstream.name, u.input_tokens, u.cache_read_input_tokens, u.cache_creation_input_tokens)
  const extra = f.deps.policy.auditFields(f.rq.headers)
  const cri = f.principal?.cri
  audit('inference', {
    request_id: f.rq.id,
    sub: f.principal?.sub,
    email: f.principal?.email,
    path: f.rq.path,
    model: f.model === '' ? null : f.model,
    upstream: f.upstream?.name ?? null,
    upstream_model: f.upstreamModel ?? undefined,
    upstream_request_id: f.upstreamRequestId,
    status,
    ms: Math.round(ms),
    bytes: f.bytesOut,
    attempts: f.next,
    input_tokens: u?.input_tokens,
    output_tokens: u !== null ? u.output_tokens : undefined,
    cache_read_tokens: u?.cache_read_input_tokens,
    cache_write_tokens: u?.cache_creation_input_tokens,
    billing_group: f.billingGroup,
    abort: f.abortReason,
    ...(f.deps.loadTest ? { load_test: true } : {}),
    ...(cri !== undefined ? { cri: true, org: cri.org, act: cri.act, upstream_kind: f.upstream === null ? undefined : f.upstream.sanitizeErrors ? 'cloud' : 'anthropic' } : {}),
    ...extra,
  })
}
