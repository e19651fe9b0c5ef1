/**
 * POST /v1/messages and POST /v1/messages/count_tokens — the hot path's entry, read top to bottom:
 *
 *   1. (synchronous, in the uWS handler) authenticate the bearer from the session cache — no
 *      database, no await, no body byte read (a refusal closes the connection) — then attach the
 *      body reader (http/body.ts: in-flight cap, rate deadline);
 *   2. admission (admission.ts, pure): forwarded headers, the body scanned for `model`/
 *      `max_tokens`/`tags` without parsing it, the model policy, routing, group-reserved upstreams,
 *      the billing group;
 *   3. spend control admits the request (worst-case reservation; in memory);
 *   4. upstream pools order the candidates; the failover loop (attempts.ts) sends the request to
 *      each in turn until one answers with something worth relaying;
 *   5. the answer (answer.ts) streams through the bridge (bridge.ts, the only code touching the
 *      client's socket and the upstream's flow control), metered as it passes;
 *   6. at the end (settle.ts): spend is settled with the usage read from the stream and one
 *      `inference` audit line is written.
 * A customer-routed-inference bearer (`deps.cri`, lib/cri) replaces step 1: its key-free checks run
 * synchronously, its signature check runs while the body is read, and the body is then screened
 * (re-serialised, policy webhook). Such a principal skips the model policy (2) and spend control
 * (3, 6), gets generic envelopes for every upstream error, and `x-cri-upstream-kind: cloud` on
 * answers from cloud providers.
 *
 * Invariant: every request that got past authentication writes exactly one audit line — through
 * `reject` when refused before any attempt, else through `done` (settle.ts).
 */
import type { HttpResponse } from 'uWebSockets.js'
import { GatewayError } from '../errors.js'
import { readBody, readBodyTo } from '../http/body.js'
import type { Req } from '../http/request.js'
import { sendError } from '../http/respond.js'
import type { Principal } from '../session/token.js'
import { admit, isRefused, type CriAdmission, type MessagesDeps } from './admission.js'
import { Failover } from './attempts.js'
import { Exchange } from './exchange.js'
import { auditInference, done } from './settle.js'
import type { Candidate } from './routing.js'
import type { Endpoint } from './upstreams/types.js'

export type { CriAdmission, MessagesDeps, ModelPolicy } from './admission.js'

/** load_test_mode: `x-load-test-user: N` meters the request as developer `<sub>+loadtest-N`. */
const LOAD_TEST_USER = 'x-load-test-user'
const LOAD_TEST_USER_VALUE = /^\d{1,7}$/
/** The Claude Code session a request belongs to: the key of upstream pool affinity. */
const SESSION_ID = 'x-claude-code-session-id'

export function handleMessages (res: HttpResponse, rq: Req, endpoint: Endpoint, deps: MessagesDeps): Promise<void> | undefined {
  const x = new Exchange(res, rq, endpoint, deps)
  let criP: Promise<Principal> | null = null
  try {
    const criToken = deps.cri !== null ? deps.cri.tokenOf(rq) : null
    if (criToken !== null) criP = (deps.cri as CriAdmission).authenticate(rq, criToken)
    else x.principal = deps.authenticate(rq) // from the headers alone: a refusal reads no body byte
  } catch (err) {
    sendError(res, rq, err)
    return undefined
  }
  const fake = deps.loadTest && criP === null ? rq.headers[LOAD_TEST_USER] : undefined
  if (fake !== undefined) {
    if (!LOAD_TEST_USER_VALUE.test(fake)) {
      reject(x, new GatewayError('GW_BAD_REQUEST', `${LOAD_TEST_USER} must be a whole number of at most 7 digits`))
      return undefined
    }
    x.principal = { ...x.principal, sub: `${x.principal.sub}+loadtest-${Number(fake)}` }
  }
  if (criP !== null) {
    const bodyP = readBody(res, rq, deps.maxBodyBytes)
    rq.onAbort = () => { clientGone(x) }
    return startCri(x, criP, bodyP)
  }
  // The hot path: no promise; the body arrives in uWS's data callback (or a microtask).
  readBodyTo(res, rq, deps.maxBodyBytes, x, bodyRead, bodyFailed)
  rq.onAbort = () => { clientGone(x) }
  return undefined
}

function bodyRead (x: Exchange, body: Buffer): void {
  try {
    const p = start(x, body)
    if (p !== undefined) p.catch((err: unknown) => { sendError(x.out.res as HttpResponse, x.rq, err) })
  } catch (err) {
    sendError(x.out.res as HttpResponse, x.rq, err)
  }
}

function bodyFailed (x: Exchange, err: unknown): void { sendError(x.out.res as HttpResponse, x.rq, err) }

/** The client went away: abort the attempt in flight, or end a request between attempts. */
function clientGone (x: Exchange): void {
  x.abortReason = 'client_closed'
  if (!x.out.abort(new Error('client closed the connection')) && !x.settled && x.tries > 0) done(x, 499)
}

/** A CRI bearer: the signature is checked while the body arrives; then the body is screened. */
async function startCri (x: Exchange, criP: Promise<Principal>, bodyP: Promise<Buffer>): Promise<void> {
  let body: Buffer
  try {
    [x.principal, body] = await Promise.all([criP, bodyP])
  } catch (err) {
    x.out.error(err)
    return
  }
  try {
    body = await (x.deps.cri as CriAdmission).screen(x.rq, x.principal, body)
  } catch (err) {
    if (x.rq.aborted) return
    if (err instanceof GatewayError) { reject(x, err); return }
    throw err
  }
  await start(x, body)
}

/** Refused before any attempt: the error envelope and the audit line. */
function reject (x: Exchange, err: GatewayError): void {
  // The spend 429 carries no request_id: the protocol shows the client printing its body as is.
  x.out.error(err, err.type === 'billing_error' ? { requestId: false } : undefined)
  auditInference(x, err.status)
}

/**
 * Admission, spend control, then the first attempt. Not an async function: the common case (spend
 * control answers from memory) runs straight through without a promise; a promise is returned
 * only when spend control's answer is one.
 */
function start (x: Exchange, body: Buffer): Promise<void> | undefined {
  if (x.rq.aborted) return undefined
  x.body = body
  const d = admit(x.rq.headers, body, x.principal, x.deps)
  if (isRefused(d)) { x.model = d.model; reject(x, d.error); return undefined }
  x.scan = d.scan
  x.model = d.model
  x.family = d.family
  x.billingGroup = d.billingGroup
  if (x.endpoint === 'messages' && !x.cri) {
    let a
    try {
      a = x.deps.accounting.admit(x.principal, { model: d.model, family: d.family, maxTokens: d.scan.maxTokens, bodyBytes: body.length, billingGroup: d.billingGroup, requestId: x.rq.id })
    } catch (err) {
      if (err instanceof GatewayError) { reject(x, err); return undefined }
      throw err
    }
    if (a instanceof Promise) {
      return a.then((adm) => { x.admission = adm; admitted(x, d.candidates) }, (err: unknown) => {
        if (err instanceof GatewayError) { reject(x, err); return }
        throw err
      })
    }
    x.admission = a
    admitted(x, d.candidates)
    return undefined
  }
  firstAttempt(x, d.candidates)
  return undefined
}

/** Spend control admitted the request (unless the client left meanwhile). */
function admitted (x: Exchange, candidates: readonly Candidate[]): void {
  if (x.rq.aborted) { done(x, 499); return }
  firstAttempt(x, candidates)
}

function firstAttempt (x: Exchange, candidates: readonly Candidate[]): void {
  // Upstream pools order the candidates (and may hand this request a half-open probe) only now,
  // right before the first attempt, so a refused request never holds a probe.
  const pools = x.deps.pools
  let home = -1
  if (pools !== null) {
    const plan = pools.plan(candidates, x.rq.headers[SESSION_ID] ?? x.principal.sub)
    candidates = plan.candidates
    x.probe = plan.probe
    home = plan.home
  }
  new Failover(x, candidates, home).attempt()
}
