/**
 * The attempt/failover loop: send the request to each candidate upstream in turn until one gives
 * an answer worth relaying.
 *
 * Until a byte has reached the client, connection errors, header timeouts and 5xx/429/401/403/404
 * answers fail over to the next candidate (failover.ts decides which statuses, and what to answer
 * when none is left); afterwards nothing is retried (answer.ts takes over). A failing answer's
 * (small) body is collected for that decision, never relayed as it streams. An attempt on another
 * provider than the session's home gets the body and betas that provider accepts (crossing.ts:
 * foreign thinking signatures out; a refused beta or body field (crossing-fields.ts) dropped and
 * the attempt repeated, at most `MAX_DROPPED_BETAS` times in all). A 401/403 from an upstream with a cached cloud credential refreshes
 * it and repeats that upstream once. Upstream pools are told each attempt's start, end and outcome.
 *
 * Invariants: at most one attempt is in flight; `next` only moves forward except for the two
 * deliberate repeats above; every attempt ends in exactly one of: an answer handed to `Answer`,
 * another attempt, the final failure, or `done(499)` when the client went away.
 */
import type { Dispatcher } from 'undici'
import { GatewayError } from '../errors.js'
import { ops } from '../log.js'
import { recordUpstream } from '../telemetry/metrics.js'
import { Answer, CRI_KIND } from './answer.js'
import { headerPairs, UpstreamLink, type AttemptEvents, type Headers } from './bridge.js'
import { crossedBody, withoutBetas } from './crossing.js'
import { refusedField } from './crossing-fields.js'
import type { Exchange } from './exchange.js'
import { finalFailure, isFailoverStatus, refusedBeta, type Attempt } from './failover.js'
import { forwardHeaders, relayable } from './headers.js'
import { scanRequest, type ScannedRequest } from './json-scan.js'
import type { Candidate } from './routing.js'
import { done } from './settle.js'
import type { Upstream, UpstreamCall } from './upstreams/types.js'

const MAX_ERROR_BODY = 64 * 1024
const TAGS_BETA = /^request-tags-/
/** Betas one request may shed after crossing providers (each costs one repeated attempt). */
const MAX_DROPPED_BETAS = 4

export class Failover {
  private next = 0
  /** Failed attempts, for the final answer (failover.ts). */
  readonly failures: Attempt[] = []
  /** Index of the current attempt's upstream in the configured list (-1 before the first). */
  upIndex = -1
  /** The upstream whose provider is taken to have produced the earlier turns (crossing.ts), or -1. */
  private readonly home: number
  /** The current attempt's provider differs from `home`'s. */
  crossed = false
  /** The body for crossing attempts, built on the first one. */
  crossBody: { body: Buffer, scan: ScannedRequest } | null = null
  /** Betas a crossing attempt was refused over, left out when it is repeated. */
  readonly dropBetas: string[] = []
  /** Body fields a crossing attempt was refused over, left out when it is repeated (crossing-fields.ts). */
  readonly dropFields: string[] = []
  /** The upstream's cached credential was refreshed after a 401/403 and the attempt repeated once. */
  credentialRetry = false

  constructor (readonly x: Exchange, private readonly candidates: readonly Candidate[], home: number) {
    this.home = home >= 0 ? home : candidates[0]?.upstream ?? -1
  }

  /** Start the next attempt (or answer with the final failure when none is left). */
  attempt (): void {
    const x = this.x
    if (x.rq.aborted) { done(x, 499); return }
    const cand = this.candidates[this.next]
    if (cand === undefined) { this.fail(); return }
    x.tries = ++this.next
    const up = x.deps.upstreams[cand.upstream] as Upstream
    x.upstream = up
    this.upIndex = cand.upstream
    x.upstreamModel = cand.model
    const home = x.deps.upstreams[this.home]
    this.crossed = home !== undefined && home.provider !== up.provider
    let body = x.body
    let scan = x.scan
    if (this.crossed) {
      if (this.crossBody === null) {
        const b = crossedBody(x.body, this.dropFields)
        this.crossBody = { body: b, scan: b === x.body ? x.scan : scanRequest(b) }
      }
      body = this.crossBody.body
      scan = this.crossBody.scan
    }
    const call: UpstreamCall = {
      endpoint: x.endpoint,
      query: x.rq.query,
      headers: this.callHeaders(),
      body,
      scan,
      model: cand.model,
      rewriteModel: cand.rewrite,
      stripTags: x.deps.billingGroupTag !== undefined && x.scan.tags !== null,
      principal: x.principal,
    }
    let out
    try {
      out = up.prepare(call)
    } catch (err) {
      this.prepareFailed(up, err)
      return
    }
    if (out instanceof Promise) {
      out.then((o) => { this.dispatch(up, o.origin, o.path, o.headers, o.body) }, (err: unknown) => { this.prepareFailed(up, err) })
      return
    }
    this.dispatch(up, out.origin, out.path, out.headers, out.body)
  }

  /** Repeat the current candidate (a refreshed credential, a dropped beta). */
  repeat (): void {
    this.next--
    this.attempt()
  }

  /**
   * An upstream could not even build the request. A client error it found in the request (a 4xx
   * other than 501) is the answer; anything else (credentials, an unsupported endpoint) fails over.
   */
  private prepareFailed (up: Upstream, err: unknown): void {
    const x = this.x
    if (err instanceof GatewayError && err.status >= 400 && err.status < 500) {
      if (x.rq.aborted) { done(x, 499); return }
      x.out.error(err)
      done(x, err.status)
      return
    }
    this.failures.push({ upstream: up, error: err })
    this.attempt()
  }

  /** The client's headers as forwarded to this attempt's upstream. */
  callHeaders (): Record<string, string> {
    const x = this.x
    const h = forwardHeaders(x.rq.headers)
    if (x.deps.billingGroupTag !== undefined && h['anthropic-beta'] !== undefined) {
      const kept = h['anthropic-beta'].split(',').map((s) => s.trim()).filter((s) => s !== '' && !TAGS_BETA.test(s))
      if (kept.length === 0) delete h['anthropic-beta']
      else h['anthropic-beta'] = kept.join(',')
    }
    if (this.crossed && this.dropBetas.length > 0) {
      const kept = withoutBetas(h['anthropic-beta'], this.dropBetas)
      if (kept === undefined) delete h['anthropic-beta']
      else h['anthropic-beta'] = kept
    }
    return h
  }

  private dispatch (up: Upstream, origin: string, path: string, headers: Record<string, string>, body: Buffer | string): void {
    const x = this.x
    if (x.rq.aborted) { done(x, 499); return }
    x.deps.pools?.begin(this.upIndex)
    up.dispatcher.dispatch({ origin, path, method: 'POST', headers, body }, new UpstreamLink(new Try(this, up)))
  }

  /** No attempt succeeded: answer with the most useful remembered failure (failover.ts decides). */
  fail (): void {
    const x = this.x
    const r = finalFailure(this.failures, x.rq.id, x.endpoint, x.deps.upstreams.length, x.cri)
    const cloud = x.cri && x.upstream?.sanitizeErrors === true
    if (x.rq.aborted) { done(x, 499); return }
    if (r.relay !== null) {
      const { status, headers, body } = r.relay
      const head: Array<string | Buffer> = []
      for (let i = 0; i < headers.length; i += 2) {
        const name = (headers[i] as Buffer).toString('latin1').toLowerCase()
        if (relayable(name)) head.push(name, headers[i + 1] as Buffer)
      }
      if (cloud) head.push(CRI_KIND, 'cloud')
      x.out.reply(status, head, body)
      done(x, status)
      return
    }
    const err = r.error as GatewayError
    x.out.error(err)
    x.out.status = err.status
    done(x, err.status)
  }
}

/** One attempt: an upstream's answer either becomes the client's (`Answer`) or feeds failover. */
class Try implements AttemptEvents {
  /** The answer is a failure being collected (failover, or a sanitised copy), not relayed. */
  private discard = false
  private errStatus = 0
  private errHeaders: Headers | null = null
  private errChunks: Buffer[] | null = null
  private errBytes = 0
  private answer: Answer | null = null
  private readonly t0 = performance.now()
  /** The upstream's index, for upstream pools (in flight until the attempt ends). */
  private readonly idx: number
  private open = true
  private reported = false

  constructor (private readonly loop: Failover, private readonly up: Upstream) { this.idx = loop.upIndex }

  /** Tell upstream pools how this attempt went: an answer's status, or none (status 0) — once. */
  private health (status: number, headers: Headers | null): void {
    const x = this.loop.x
    const pools = x.deps.pools
    if (pools === null || this.reported) return
    this.reported = true
    const probe = x.probe === this.idx
    if (probe) x.probe = -1
    if (status > 0) pools.answered(this.idx, status, headers !== null && (status === 429 || status >= 500) ? headerPairs(headers) : [], performance.now() - this.t0, probe)
    else if (!x.rq.aborted) pools.failed(this.idx, probe)
    else if (probe) pools.releaseProbe(this.idx)
  }

  /** The attempt is over (for upstream pools' in-flight counts). */
  private close (): void {
    if (this.open) { this.open = false; this.loop.x.deps.pools?.end(this.idx) }
  }

  started (c: Dispatcher.DispatchController): boolean {
    const x = this.loop.x
    if (x.rq.aborted) return false
    x.out.attach(c)
    return true
  }

  headers (status: number, headers: Headers): void {
    const x = this.loop.x
    if (x.rq.aborted) return
    recordUpstream(this.up.name, status, performance.now() - this.t0)
    this.health(status, headers)
    if (isFailoverStatus(status) || (status >= 400 && (this.up.sanitizeErrors || x.cri))) {
      // Collect the (small) error body: either fail over, or answer with a sanitised copy.
      this.discard = true
      this.errStatus = status
      this.errHeaders = headers
      this.errChunks = []
      return
    }
    this.answer = new Answer(x)
    this.answer.begin(this.up, status, headers)
  }

  data (chunk: Buffer): void {
    if (this.loop.x.rq.aborted) return
    if (this.discard) {
      if (this.errBytes < MAX_ERROR_BODY) { (this.errChunks as Buffer[]).push(chunk); this.errBytes += chunk.length }
      return
    }
    this.answer?.data(chunk)
  }

  complete (): void {
    const loop = this.loop
    const x = loop.x
    x.out.detach()
    this.close()
    if (!this.discard) {
      if (x.rq.aborted) { done(x, 499); return }
      this.answer?.complete()
      return
    }
    if (x.rq.aborted) { done(x, 499); return }
    if ((this.errStatus === 401 || this.errStatus === 403) && this.up.invalidateCredentials !== undefined && !loop.credentialRetry) {
      // A cached cloud credential may have expired early: fetch a fresh one and try this upstream again, once.
      loop.credentialRetry = true
      this.up.invalidateCredentials()
      loop.repeat()
      return
    }
    const errBody = Buffer.concat(this.errChunks as Buffer[])
    if (loop.crossed && this.errStatus === 400) {
      // A crossing attempt refused over a beta the target lacks: the same upstream again without it.
      const beta = refusedBeta(errBody, loop.callHeaders()['anthropic-beta'])
      const shed = loop.dropBetas.length + loop.dropFields.length
      if (beta !== undefined && shed < MAX_DROPPED_BETAS) {
        ops.warn(`upstream ${this.up.name} refused beta ${beta} after a provider crossing request_id=${x.rq.id}; repeating without it`)
        loop.dropBetas.push(beta)
        loop.repeat()
        return
      }
      const field = beta === undefined && loop.crossBody !== null ? refusedField(errBody, loop.crossBody.body) : undefined
      if (field !== undefined && !loop.dropFields.includes(field) && shed < MAX_DROPPED_BETAS) {
        ops.warn(`upstream ${this.up.name} refused ${field} after a provider crossing request_id=${x.rq.id}; repeating without it`)
        loop.dropFields.push(field)
        loop.crossBody = null
        loop.repeat()
        return
      }
    }
    loop.failures.push({ upstream: this.up, status: this.errStatus, headers: headerPairs(this.errHeaders as Headers), body: errBody })
    if (isFailoverStatus(this.errStatus)) loop.attempt()
    else loop.fail()
  }

  failed (err: Error): void {
    const x = this.loop.x
    x.out.detach()
    if (!x.committed) this.health(0, null)
    this.close()
    if (x.rq.aborted) { done(x, 499); return }
    if (!x.committed) {
      recordUpstream(this.up.name, 0, performance.now() - this.t0)
      this.loop.failures.push({ upstream: this.up, error: err })
      this.loop.attempt()
      return
    }
    this.answer?.failed(err)
  }
}
