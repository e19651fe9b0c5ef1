/**
 * The OTLP relay, primary side. HTTP workers answer the client 200 and post each body here
 * (`telemetry.batch`, the body transferred, with the verified identity). For each batch:
 *
 *   1. refuse early what cannot be relayed: an unknown content type or encoding, no destination
 *      wanting the signal (or all of them paused), or the relay over its budget (at most
 *      `maxPending` bodies waiting in the pool and `maxHeldBytes` of bodies held anywhere);
 *   2. stamp verified identity in the primary's Piscina pool (`otlp-task.ts`); a full pool queue
 *      or a malformed body is a drop;
 *   3. offer the stamped body to every destination that wants the signal (`destination.ts`).
 *
 * Every drop is counted in `weir.telemetry.dropped{signal,reason,destination}`; the first drop and
 * every 100th after it are logged (ops warning and a `telemetry.dropped` audit event), so a dead
 * collector cannot flood the log either. Nothing here ever waits on a collector: memory is bounded
 * by the budget and the destination queues, and the client was answered before any of this ran.
 *
 * A config reload `retarget`s the relay: new bodies go to the new destination list (and use the
 * new resource attributes and decode bound) at once; the previous destinations are retired, not
 * dropped: bodies accepted before the switch are still stamped and offered to them, and they are
 * closed only once those are out and their queues drained (or `graceMs` passed, as at shutdown).
 */
import type { Dispatcher } from 'undici'
import type { TelemetryConfig } from '../config/schema.js'
import { audit, describeError, ops } from '../log.js'
import { PoolFull, type PoolLease } from '../workers-pool.js'
import { type Batch, DEFAULT_DESTINATION_OPTIONS, Destination, type DestinationEvents, type DestinationOptions, type DropReason } from './destination.js'
import type { Signal, StampInput } from './otlp.js'
import { STAMP_TASK_FILE } from './otlp-task.js'
import type { MetricsRegistry } from './registry.js'
import type { BatchMessage } from './rpc-map.js'

// The worker → primary message lives in rpc-map.ts, so the HTTP worker's telemetry routes do not
// import this module (and through it the Piscina pool).
export { BATCH_EVENT, type BatchMessage } from './rpc-map.js'

export interface RelayOptions {
  /** Bodies waiting for (or in) the pool at once. Default 128. */
  maxPending: number
  /** Bytes of bodies held by the relay at once (pending, queued or being sent). Default 64 MiB. */
  maxHeldBytes: number
  /** Largest decompressed body. Default: max(limits.max_request_bytes, 64 MiB). */
  maxDecodedBytes: number
  destination: DestinationOptions
  /** Per-destination extra headers (e.g. a Google access token), by forward_to index. */
  authFor?: (index: number) => (() => Promise<Record<string, string>>) | undefined
}

export type RelayDropReason = 'unsupported_content_type' | 'unsupported_encoding' | 'no_destination' | 'circuit_open' | 'saturated' | 'pool_full' | 'malformed' | 'shutdown'

/** Drops between two log lines. */
const LOG_EVERY = 100

export function bodyFormat (contentType: string): 'json' | 'protobuf' | null {
  const ct = (contentType.split(';')[0] ?? '').trim().toLowerCase()
  if (ct === 'application/json') return 'json'
  if (ct === '' || ct === 'application/x-protobuf' || ct === 'application/protobuf') return 'protobuf'
  return null
}

export class Relay {
  destinations: readonly Destination[]
  private pending = 0
  private held = 0
  private dropped = 0
  private stopped = false
  private opts: RelayOptions
  private labels: Readonly<Record<string, string>>
  /** Bodies in the pool by destination list (generation): a list retires once its count is 0. */
  private readonly stamping = new Map<readonly Destination[], number>()
  private stampWaiters: Array<() => void> = []
  private readonly retiring = new Map<Promise<void>, readonly Destination[]>()
  private readonly events: DestinationEvents
  private readonly droppedCounter
  private readonly sentCounter

  constructor (cfg: TelemetryConfig, registry: MetricsRegistry, private readonly pool: PoolLease,
    private readonly dispatcher: Dispatcher, opts: Partial<RelayOptions> & { maxRequestBytes: number }) {
    this.opts = {
      maxPending: opts.maxPending ?? 128,
      maxHeldBytes: opts.maxHeldBytes ?? 64 * 1024 * 1024,
      maxDecodedBytes: opts.maxDecodedBytes ?? Math.max(opts.maxRequestBytes, 64 * 1024 * 1024),
      destination: { ...DEFAULT_DESTINATION_OPTIONS, ...opts.destination },
      ...(opts.authFor !== undefined ? { authFor: opts.authFor } : {}),
    }
    this.labels = cfg.resource_attributes ?? {}
    this.droppedCounter = registry.counter('weir.telemetry.dropped', 'Client telemetry batches not relayed, by signal, reason and destination', '{batch}', ['signal', 'reason', 'destination'])
    this.sentCounter = registry.counter('weir.telemetry.relayed', 'Client telemetry batches delivered, by destination and signal', '{batch}', ['destination', 'signal'])
    this.events = {
      onDrop: (d: Destination, b: Batch, reason: DropReason) => { this.drop(b.signal, reason, d.label) },
      onSent: (d: Destination, b: Batch) => { this.sentCounter.add([d.label, b.signal]) },
    }
    this.destinations = this.build(cfg)
    registry.gauge('weir.telemetry.queue', 'Client telemetry batches waiting per destination', '{batch}', ['destination'],
      () => this.destinations.map((d) => [[d.label], d.queued] as const))
    registry.gauge('weir.telemetry.inflight', 'Client telemetry requests in progress per destination', '{request}', ['destination'],
      () => this.destinations.map((d) => [[d.label], d.inflight] as const))
    registry.gauge('weir.telemetry.pending', 'Client telemetry bodies waiting to be stamped', '{batch}', [], () => [[[], this.pending]])
    registry.gauge('weir.telemetry.held', 'Bytes of client telemetry held by the relay', 'By', [], () => [[[], this.held]])
  }

  private build (cfg: TelemetryConfig): Destination[] {
    return cfg.forward_to.map((d, i) => {
      const auth = this.opts.authFor?.(i)
      return new Destination(d, this.dispatcher, { ...this.opts.destination, ...(auth !== undefined ? { authHeaders: auth } : {}) }, this.events)
    })
  }

  /**
   * Switch to a reloaded config: later bodies go to `cfg.forward_to` (with the new labels and
   * decode bound); the previous destinations finish what was accepted for them, then close. The
   * returned promise settles once they are closed (never rejects).
   */
  async retarget (cfg: TelemetryConfig, o: { maxRequestBytes: number, authFor?: RelayOptions['authFor'], graceMs: number }): Promise<void> {
    const old = this.destinations
    this.opts = {
      ...this.opts,
      maxDecodedBytes: Math.max(o.maxRequestBytes, 64 * 1024 * 1024),
      ...(o.authFor !== undefined ? { authFor: o.authFor } : {}),
    }
    this.labels = cfg.resource_attributes ?? {}
    this.destinations = this.build(cfg)
    const done = (async () => {
      while ((this.stamping.get(old) ?? 0) > 0) await new Promise<void>((resolve) => this.stampWaiters.push(resolve))
      await Promise.all(old.map(async (d) => { await d.close(o.graceMs) }))
    })()
    this.retiring.set(done, old)
    try { await done } finally { this.retiring.delete(done) }
  }

  private stamped (list: readonly Destination[]): void {
    const n = (this.stamping.get(list) ?? 1) - 1
    if (n <= 0) this.stamping.delete(list); else this.stamping.set(list, n)
    const w = this.stampWaiters; this.stampWaiters = []; for (const f of w) f()
  }

  /** Numbers for tests and logs. */
  stats (): { pending: number, held: number, dropped: number } {
    return { pending: this.pending, held: this.held, dropped: this.dropped }
  }

  private drop (signal: Signal, reason: RelayDropReason | DropReason, destination = ''): void {
    this.dropped++
    this.droppedCounter.add([signal, reason, destination])
    if (this.dropped % LOG_EVERY === 1) {
      ops.warn(`telemetry: ${this.dropped} batch(es) dropped so far; latest ${signal} batch: ${reason}${destination === '' ? '' : ` (${destination})`}`)
      audit('telemetry.dropped', { signal, reason, destination: destination === '' ? undefined : destination, dropped_total: this.dropped })
    }
  }

  /** Handle one body from an HTTP worker. Never throws, never waits. */
  accept (m: BatchMessage): void {
    const signal = m.signal
    const format = bodyFormat(m.contentType)
    if (format === null) { this.drop(signal, 'unsupported_content_type'); return }
    const enc = m.encoding.trim().toLowerCase()
    if (enc !== '' && enc !== 'identity' && enc !== 'gzip') { this.drop(signal, 'unsupported_encoding'); return }
    const list = this.destinations
    const targets = list.filter((d) => d.wants(signal))
    if (this.stopped) { this.drop(signal, 'shutdown'); return }
    if (targets.length === 0) { this.drop(signal, 'no_destination'); return }
    const open = targets.filter((d) => !d.paused)
    for (const d of targets) if (d.paused) this.drop(signal, 'circuit_open', d.label)
    if (open.length === 0) return
    const size = m.body.byteLength
    if (this.pending >= this.opts.maxPending || this.held + size > this.opts.maxHeldBytes) {
      for (const d of open) this.drop(signal, 'saturated', d.label)
      return
    }
    this.pending++
    this.held += size
    this.stamping.set(list, (this.stamping.get(list) ?? 0) + 1)
    const task: StampInput = {
      body: m.body,
      signal,
      json: format === 'json',
      gzip: enc === 'gzip',
      identity: { sub: m.sub, email: m.email, groups: m.groups },
      labels: this.labels,
      maxBytes: this.opts.maxDecodedBytes,
    }
    this.pool.run<ArrayBuffer>(STAMP_TASK_FILE, 'stamp', task, [m.body]).then((out) => {
      this.pending--
      this.held -= size
      this.fanOut(signal, new Uint8Array(out), task.json, task.gzip, open)
      this.stamped(list)
    }, (err: unknown) => {
      this.pending--
      this.held -= size
      this.stamped(list)
      if (err instanceof PoolFull) { for (const d of open) this.drop(signal, 'pool_full', d.label); return }
      ops.debug(`telemetry: a ${signal} body from ${m.sub} could not be read: ${describeError(err)}`)
      for (const d of open) this.drop(signal, 'malformed', d.label)
    })
  }

  private fanOut (signal: Signal, body: Uint8Array, json: boolean, gzip: boolean, to: readonly Destination[]): void {
    if (this.stopped) { for (const d of to) this.drop(signal, 'shutdown', d.label); return }
    let refs = to.length
    this.held += body.byteLength
    const batch: Batch = {
      signal,
      body,
      json,
      gzip,
      release: () => { if (--refs === 0) this.held -= body.byteLength },
    }
    for (const d of to) d.offer(batch)
  }

  /** Stop accepting; give queued batches up to `graceMs` to go out, then abort the rest. */
  async stop (graceMs: number): Promise<void> {
    this.stopped = true
    const retired = [...this.retiring.values()].flat()
    await Promise.all([...this.destinations, ...retired].map(async (d) => { await d.close(graceMs) }))
    await Promise.all(this.retiring.keys())
  }
}
