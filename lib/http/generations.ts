/**
 * Config generations inside one HTTP worker: the request handler built from one frozen config,
 * swapped for a new one between requests.
 *
 * Invariants:
 * - A request is served start to finish by the generation current when it arrived (the handler,
 *   router and services it closes over); a swap only changes what the next request gets.
 * - Every generation lists the resources it owns (timers, connection pools, listeners). A
 *   resource shared by several generations (reused because its config did not change) is counted
 *   once per generation and closed when the last generation holding it has retired and finished
 *   its in-flight requests; a resource is never closed while a request may still use it.
 * - `inflight` counts every generation's open requests, for the worker's graceful drain.
 */
import type { HttpRequest, HttpResponse } from 'uWebSockets.js'
import { describeError, ops } from '../log.js'

/** Something a generation holds that must be released: `key` identifies it across generations. */
export interface Owned {
  readonly key: object
  close (): void | Promise<void>
}

export type UwsHandler = (res: HttpResponse, req: HttpRequest) => void

/** What one generation is built from; `track` must be told when each request starts and ends. */
export type Build = (track: { start: () => void, end: () => void }) => { handler: UwsHandler, owned: readonly Owned[] }

interface Gen {
  readonly id: number
  handler: UwsHandler
  owned: readonly Owned[]
  inflight: number
  retired: boolean
}

export class Generations {
  private current: Gen
  private readonly refs = new Map<object, number>()
  private total = 0
  private idle: (() => void) | null = null

  constructor (build: Build, id = 1) {
    this.current = this.make(build, id)
  }

  /** The uWS handler: always dispatches to the current generation. */
  readonly handler: UwsHandler = (res, req) => { this.current.handler(res, req) }

  get inflight (): number { return this.total }
  get generation (): number { return this.current.id }

  /** Called once whenever the in-flight count drops to zero (for drain). */
  onIdle (fn: (() => void) | null): void { this.idle = fn }

  /** Build generation `id` and make it current. A build that throws leaves the current one in place. */
  swap (build: Build, id: number): void {
    const next = this.make(build, id)
    const old = this.current
    this.current = next
    old.retired = true
    if (old.inflight === 0) this.release(old)
  }

  private make (build: Build, id: number): Gen {
    const gen: Gen = { id, handler: () => {}, owned: [], inflight: 0, retired: false }
    const track = {
      start: () => { gen.inflight++; this.total++ },
      end: () => {
        gen.inflight--
        this.total--
        if (gen.retired && gen.inflight === 0) this.release(gen)
        if (this.total === 0) this.idle?.()
      },
    }
    const built = build(track)
    gen.handler = built.handler
    gen.owned = built.owned
    for (const o of gen.owned) this.refs.set(o.key, (this.refs.get(o.key) ?? 0) + 1)
    return gen
  }

  private release (gen: Gen): void {
    const owned = gen.owned
    gen.owned = []
    for (const o of owned) {
      const n = (this.refs.get(o.key) ?? 1) - 1
      if (n > 0) { this.refs.set(o.key, n); continue }
      this.refs.delete(o.key)
      try {
        Promise.resolve(o.close()).catch((err: unknown) => { ops.warn(`closing a retired config generation's resource failed: ${describeError(err)}`) })
      } catch (err) {
        ops.warn(`closing a retired config generation's resource failed: ${describeError(err)}`)
      }
    }
  }
}
