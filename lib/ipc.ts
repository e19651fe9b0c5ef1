/**
 * Messages between the primary thread and the HTTP worker threads.
 *
 * The primary owns the only Postgres pool (so a replica never opens more than
 * `store.max_connections` connections, however many workers it runs). Workers reach the database
 * on cold paths (sign-in, rate limits, admin API, readiness, spend leases) with `callPrimary`, a
 * request/response over the worker's `parentPort`. The primary pushes state to workers (revoked
 * tokens, spend cap changes) with `broadcast`, and workers push fire-and-forget data to the primary
 * (usage batches, telemetry bodies) with `sendToPrimary`.
 *
 * Code that runs in the main thread (tests, `weir dev`, the primary itself) can call the same
 * client functions: `callPrimary` then invokes the registered handler directly.
 *
 * The RPCs form one typed map, `RpcMap`: each feature declares its names (`feature.verb`), argument
 * structs and reply types once, in its `rpc-map.ts`, and merges them into `RpcMap` with
 * `declare module '../ipc.js'`. From that declaration `callPrimary` is typed in workers, the
 * handlers given to `registerRpc` are typed in the primary, and the primary checks every call's
 * arguments (lib/rpc-args.ts) before its handler runs. Subsystems export small typed wrappers around
 * `callPrimary` for workers. Events merge into `EventMap` the same way, in the same `rpc-map.ts`
 * (type only: payloads are not checked at run time). Every event is mapped: an event name that no
 * feature maps is a type error wherever it is sent or subscribed to (test/ipc/rpc-map.types.ts).
 */
import { isMainThread, parentPort, type MessagePort, type Worker } from 'node:worker_threads'
import type { Struct } from 'superstruct'
import { GatewayError, ERRORS, type GatewayErrorCode } from './errors.js'
import { checkArgs } from './rpc-args.js'

declare const REPLY: unique symbol
/** One RPC's declaration: its argument struct, and (type only) its reply. */
export interface RpcSpec<A, R> { readonly args: Struct<A, unknown>, readonly [REPLY]?: R }
/** Declare an RPC: `rpc<Reply>()(argumentStruct)`. */
export const rpc = <R>() => <A>(args: Struct<A, unknown>): RpcSpec<A, R> => ({ args })

/**
 * Every RPC, name → `RpcSpec`. Empty here: each feature merges its own map in
 * (`type FeatureRpc = typeof FEATURE_RPC; declare module '../ipc.js' { interface RpcMap extends FeatureRpc {} }`).
 */
export interface RpcMap {} // eslint-disable-line @typescript-eslint/no-empty-interface
export type RpcName = keyof RpcMap & string
export type RpcArgs<K extends RpcName> = RpcMap[K] extends RpcSpec<infer A, any> ? A : never // eslint-disable-line @typescript-eslint/no-explicit-any
export type RpcReply<K extends RpcName> = RpcMap[K] extends RpcSpec<any, infer R> ? R : never // eslint-disable-line @typescript-eslint/no-explicit-any
/** A feature's map: the value whose type it merges into `RpcMap`. */
export type RpcTable = Readonly<Record<string, RpcSpec<any, unknown>>> // eslint-disable-line @typescript-eslint/no-explicit-any
/** The handlers for a table: one per name, typed from its struct and reply. */
export type RpcHandlers<T extends RpcTable> = {
  [K in keyof T]: T[K] extends RpcSpec<infer A, infer R> ? (args: A) => Promise<R> | R : never
}

type RpcHandler = (args: unknown) => unknown

/**
 * Events, name → payload, merged in by features like `RpcMap` (in their `rpc-map.ts`:
 * `declare module '../ipc.js' { interface EventMap { 'feature.thing': Payload } }`). `onEvent`,
 * `broadcast`, `sendToPrimary` and a join hook's `send` take only mapped names, and check the payload.
 */
export interface EventMap {} // eslint-disable-line @typescript-eslint/no-empty-interface
export type EventName = keyof EventMap & string
/** The payload of event `N`. */
export type EventData<N extends EventName> = EventMap[N]
/** Send one event (a join hook's `send`: to the worker that joined). */
export type EventSend = <N extends EventName>(name: N, data: EventData<N>) => void
type EventHandler = (data: any) => void // eslint-disable-line @typescript-eslint/no-explicit-any

/** Wire messages. `t` discriminates. */
export type Msg =
  | { t: 'rpc', id: number, name: string, args: unknown }
  | { t: 'rpc-r', id: number, ok: true, v: unknown }
  | { t: 'rpc-r', id: number, ok: false, code: string | undefined, msg: string }
  | { t: 'evt', name: string, data: unknown }

const handlers = new Map<string, { run: RpcHandler, args: Struct<unknown, unknown> }>()
const eventHandlers = new Map<string, EventHandler[]>()
const workers = new Set<Worker>()
const joinHooks: Array<(send: EventSend) => void> = []

/**
 * Primary: make the RPCs of `table` (a feature's map) callable from workers, one handler per name.
 * Arguments are checked with the table's structs before a handler runs. Registering a name twice
 * replaces the handler.
 */
export function registerRpc<T extends RpcTable> (table: T, run: RpcHandlers<T>): void {
  for (const name in table) {
    const spec = table[name] as RpcSpec<unknown, unknown>
    handlers.set(name, { run: run[name] as RpcHandler, args: spec.args })
  }
}

/** Primary: forget every handler (tests and shutdown). */
export function clearRpc (): void { handlers.clear(); joinHooks.length = 0 }

/** Subscribe to events: in a worker, events broadcast by the primary; in the primary, events sent by workers. */
export function onEvent<N extends EventName> (name: N, fn: (data: EventData<N>) => void): () => void {
  const list = eventHandlers.get(name) ?? []
  list.push(fn)
  eventHandlers.set(name, list)
  return () => { const l = eventHandlers.get(name); if (l !== undefined) l.splice(l.indexOf(fn) >>> 0, 1) }
}

function emitLocal (name: string, data: unknown): void {
  const list = eventHandlers.get(name)
  if (list !== undefined) for (const fn of list) fn(data)
}

function toError (code: string | undefined, msg: string): Error {
  if (code !== undefined && code in ERRORS) return new GatewayError(code as GatewayErrorCode, msg)
  const err = new Error(msg) as Error & { code?: string }
  if (code !== undefined) err.code = code
  return err
}

async function invoke (name: string, args: unknown): Promise<unknown> {
  const h = handlers.get(name)
  if (h === undefined) throw toError('GW_INTERNAL', `no handler for ${name}`)
  return await h.run(checkArgs(name, h.args, args))
}

// ---- worker side -------------------------------------------------------------------------------

let nextId = 1
const pending = new Map<number, { resolve: (v: unknown) => void, reject: (e: Error) => void, timer: NodeJS.Timeout }>()
let port: MessagePort | null = isMainThread ? null : parentPort

function onWorkerMessage (m: Msg): void {
  if (m.t === 'rpc-r') {
    const p = pending.get(m.id)
    if (p === undefined) return
    pending.delete(m.id)
    clearTimeout(p.timer)
    if (m.ok) p.resolve(m.v)
    else p.reject(toError(m.code, m.msg))
  } else if (m.t === 'evt') {
    emitLocal(m.name, m.data)
  }
}

/** Worker: start listening on `parentPort`. Called once by the worker entry point. */
export function startWorkerIpc (p: MessagePort | null = parentPort): void {
  port = p
  port?.on('message', (m: Msg) => { if (typeof m === 'object' && m !== null && 't' in m) onWorkerMessage(m) })
}

/**
 * Call a primary-side handler. In the main thread the handler runs directly. Rejects after
 * `timeoutMs` (default 5 s) with code `ETIMEDOUT`.
 */
export async function callPrimary<K extends RpcName> (name: K, args: RpcArgs<K>, timeoutMs = 5000): Promise<RpcReply<K>> {
  type T = RpcReply<K>
  if (port === null) return await invoke(name, args) as T
  const id = nextId++
  const p = port
  return await new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => {
      pending.delete(id)
      reject(toError('ETIMEDOUT', `${name}: no answer from the primary in ${timeoutMs} ms`))
    }, timeoutMs)
    pending.set(id, { resolve: resolve as (v: unknown) => void, reject, timer })
    p.postMessage({ t: 'rpc', id, name, args } satisfies Msg)
  })
}

/** Worker → primary, fire and forget. In the main thread, delivered to local `onEvent` handlers. */
export function sendToPrimary<N extends EventName> (name: N, data: EventData<N>, transfer?: ArrayBuffer[]): void {
  if (port === null) { emitLocal(name, data); return }
  port.postMessage({ t: 'evt', name, data } satisfies Msg, transfer)
}

// ---- primary side ------------------------------------------------------------------------------

/** Primary: serve RPCs and events from `w` until it exits. Runs the join hooks for it. */
export function attachWorker (w: Worker): void {
  workers.add(w)
  w.on('message', (m: Msg) => {
    if (typeof m !== 'object' || m === null || !('t' in m)) return
    if (m.t === 'rpc') {
      invoke(m.name, m.args).then(
        (v) => { if (workers.has(w)) w.postMessage({ t: 'rpc-r', id: m.id, ok: true, v } satisfies Msg) },
        (err: unknown) => {
          if (!workers.has(w)) return
          const e = err as { code?: unknown, message?: unknown }
          w.postMessage({ t: 'rpc-r', id: m.id, ok: false, code: typeof e?.code === 'string' ? e.code : undefined, msg: typeof e?.message === 'string' ? e.message : String(err) } satisfies Msg)
        })
    } else if (m.t === 'evt') {
      emitLocal(m.name, m.data)
    }
  })
  w.once('exit', () => { workers.delete(w) })
  const send: EventSend = (name, data) => { w.postMessage({ t: 'evt', name, data } satisfies Msg) }
  for (const hook of joinHooks) hook(send)
}

/** Primary: run `hook` for every worker that attaches from now on (to send it the current state). */
export function onWorkerJoin (hook: (send: EventSend) => void): void {
  joinHooks.push(hook)
}

/** Primary: send an event to every worker, and to main-thread subscribers. */
export function broadcast<N extends EventName> (name: N, data: EventData<N>): void {
  for (const w of workers) w.postMessage({ t: 'evt', name, data } satisfies Msg)
  if (isMainThread) emitLocal(name, data)
}
