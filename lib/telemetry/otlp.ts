/**
 * Stamping verified identity onto OTLP export requests (metrics, logs, traces), in protobuf or
 * JSON, before they are relayed to the operator's collectors.
 *
 * What changes, and nothing else:
 *   - every resource gets `user.id` (the token's subject), `user.email`, `user.groups`
 *     (comma-joined) and `identity.source: gateway-oidc` — the names Claude Code itself uses when
 *     signed in to a gateway — plus the operator's `telemetry.resource_attributes`. Whatever the
 *     client sent under those keys is removed first. A resource-less entry gets a resource.
 *   - wherever a record (metric data point, log record, span, span event, span link) carries one
 *     of the four identity keys, its value is replaced by the verified one (or the key removed when
 *     there is no verified value, e.g. no email). Backends that turn record attributes into
 *     labels therefore cannot be fooled either.
 * Protobuf is walked field by field (`protobuf.ts`) and every field not on those paths is copied
 * byte for byte. JSON is parsed and re-serialised; both camelCase and snake_case member names are
 * understood.
 *
 * This module is pure and synchronous: it runs inside the primary's Piscina pool (see
 * `otlp-task.ts`), never on an HTTP worker.
 */
import { gunzipSync, gzipSync } from 'node:zlib'
import { type Field, ProtobufError, Writer, fields, utf8 } from './protobuf.js'

export type Signal = 'metrics' | 'logs' | 'traces'
export const SIGNALS: readonly Signal[] = Object.freeze(['metrics', 'logs', 'traces'])

/** The identity keys, as Claude Code names them. */
export const IDENTITY_KEYS: readonly string[] = Object.freeze(['user.id', 'user.email', 'user.groups', 'identity.source'])
export const IDENTITY_SOURCE = 'gateway-oidc'

/** Who sent the telemetry, from the verified bearer. */
export interface VerifiedIdentity {
  readonly sub: string
  readonly email?: string | undefined
  readonly groups: readonly string[]
}

/** What to write: built once per batch by `makeStamp`. */
export interface Stamp {
  /** Resource attributes, in order; client copies of these keys are removed. */
  readonly resource: ReadonlyArray<readonly [string, string]>
  readonly resourceKeys: ReadonlySet<string>
  /** Record-level identity keys → verified value (undefined = remove the key). */
  readonly record: ReadonlyMap<string, string | undefined>
}

export function makeStamp (id: VerifiedIdentity, labels: Readonly<Record<string, string>> = {}): Stamp {
  const identity: Array<[string, string | undefined]> = [
    ['user.id', id.sub],
    ['user.email', id.email === '' ? undefined : id.email],
    ['user.groups', id.groups.length > 0 ? id.groups.join(',') : undefined],
    ['identity.source', IDENTITY_SOURCE],
  ]
  const resource: Array<[string, string]> = identity.filter((e): e is [string, string] => e[1] !== undefined)
  for (const [k, v] of Object.entries(labels)) if (!IDENTITY_KEYS.includes(k)) resource.push([k, v])
  return {
    resource,
    resourceKeys: new Set([...IDENTITY_KEYS, ...Object.keys(labels)]),
    record: new Map(identity),
  }
}

// ---- protobuf --------------------------------------------------------------------------------

/** Where attributes live in a message: nested messages to descend into, and the attribute field. */
interface Rule {
  /** Field 1 is a `Resource` to stamp (ResourceMetrics, ResourceLogs, ResourceSpans). */
  readonly resource?: boolean
  /** Field number of `repeated KeyValue attributes` on a record. */
  readonly attrs?: number
  readonly kids?: Readonly<Record<number, Rule>>
}

const points = (attrs: number): Rule => ({ kids: { 1: { attrs } } })
const METRIC: Rule = { kids: { 5: points(7), 7: points(7), 9: points(9), 10: points(1), 11: points(7) } }
const SPAN: Rule = { attrs: 9, kids: { 11: { attrs: 3 }, 13: { attrs: 4 } } }

/** Export*ServiceRequest → Resource* (1) → Scope* (2) → records (2). Field numbers from the OTLP protos. */
const PROTO_RULES: Readonly<Record<Signal, Rule>> = {
  metrics: { kids: { 1: { resource: true, kids: { 2: { kids: { 2: METRIC } } } } } },
  logs: { kids: { 1: { resource: true, kids: { 2: { kids: { 2: { attrs: 6 } } } } } } },
  traces: { kids: { 1: { resource: true, kids: { 2: { kids: { 2: SPAN } } } } } },
}

/** KeyValue{key=1, value=2 AnyValue{string_value=1}}. */
function keyValue (key: string, value: string): Uint8Array {
  return new Writer().string(1, key).bytes(2, new Writer().string(1, value).finish()).finish()
}

function keyOf (kv: Uint8Array): string | undefined {
  for (const f of fields(kv)) if (f.num === 1 && f.wire === 2) return utf8(f.data)
  return undefined
}

interface ProtoStamp { readonly stamp: Stamp, readonly resourceKvs: readonly Uint8Array[], readonly recordKvs: ReadonlyMap<string, Uint8Array | null> }

function stampResource (data: Uint8Array, ps: ProtoStamp, addOurs: boolean): Uint8Array {
  const w = new Writer()
  for (const f of fields(data)) {
    if (f.num === 1 && f.wire === 2) {
      const k = keyOf(f.data)
      if (k !== undefined && ps.stamp.resourceKeys.has(k)) continue
    }
    w.raw(f.raw)
  }
  if (addOurs) for (const kv of ps.resourceKvs) w.bytes(1, kv)
  return w.finish()
}

/** Rewrite one message per `rule`; returns `buf` itself when nothing changed. */
function rewrite (buf: Uint8Array, rule: Rule, ps: ProtoStamp): Uint8Array {
  const w = new Writer()
  let changed = false
  let sawResource = false
  let seen: Set<string> | null = null
  for (const f of fields(buf) as Iterable<Field>) {
    if (f.wire === 2) {
      if (rule.resource === true && f.num === 1) {
        w.bytes(1, stampResource(f.data, ps, !sawResource))
        sawResource = true
        changed = true
        continue
      }
      const kid = rule.kids?.[f.num]
      if (kid !== undefined) {
        const nb = rewrite(f.data, kid, ps)
        if (nb === f.data) w.raw(f.raw)
        else { w.bytes(f.num, nb); changed = true }
        continue
      }
      if (rule.attrs === f.num) {
        const k = keyOf(f.data)
        const ours = k === undefined ? undefined : ps.recordKvs.get(k)
        if (ours === undefined) { w.raw(f.raw); continue }
        changed = true
        seen ??= new Set()
        if (ours !== null && !seen.has(k as string)) { w.bytes(f.num, ours); seen.add(k as string) }
        continue
      }
    }
    w.raw(f.raw)
  }
  if (rule.resource === true && !sawResource) {
    w.bytes(1, stampResource(new Uint8Array(0), ps, true))
    changed = true
  }
  return changed ? w.finish() : buf
}

/** Stamp a protobuf `Export{Metrics,Logs,Trace}ServiceRequest`. Throws `ProtobufError` on malformed input. */
export function stampProtobuf (body: Uint8Array, signal: Signal, stamp: Stamp): Uint8Array {
  const recordKvs = new Map<string, Uint8Array | null>()
  for (const [k, v] of stamp.record) recordKvs.set(k, v === undefined ? null : keyValue(k, v))
  const ps: ProtoStamp = { stamp, resourceKvs: stamp.resource.map(([k, v]) => keyValue(k, v)), recordKvs }
  return rewrite(body, PROTO_RULES[signal], ps)
}

// ---- JSON ------------------------------------------------------------------------------------

type Obj = Record<string, unknown>
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v)

/** Objects in the list member `name` (lowerCamelCase; the snake_case spelling is read too). */
function each (o: Obj, name: string): Obj[] {
  const snake = name.replace(/[A-Z]/g, (c) => '_' + c.toLowerCase())
  const out: Obj[] = []
  for (const n of snake === name ? [name] : [name, snake]) {
    const v = o[n]
    if (Array.isArray(v)) for (const x of v) if (isObj(x)) out.push(x)
  }
  return out
}

const jsonKv = (key: string, value: string): Obj => ({ key, value: { stringValue: value } })

function fixRecordJson (rec: Obj, stamp: Stamp): void {
  const attrs = rec.attributes
  if (!Array.isArray(attrs)) return
  const seen = new Set<string>()
  const out: unknown[] = []
  for (const a of attrs) {
    const k = isObj(a) && typeof a.key === 'string' ? a.key : undefined
    if (k === undefined || !stamp.record.has(k)) { out.push(a); continue }
    const v = stamp.record.get(k)
    if (v !== undefined && !seen.has(k)) { out.push(jsonKv(k, v)); seen.add(k) }
  }
  rec.attributes = out
}

const JSON_TOP: Readonly<Record<Signal, readonly [string, string, string]>> = {
  metrics: ['resourceMetrics', 'scopeMetrics', 'metrics'],
  logs: ['resourceLogs', 'scopeLogs', 'logRecords'],
  traces: ['resourceSpans', 'scopeSpans', 'spans'],
}
const METRIC_KINDS = ['gauge', 'sum', 'histogram', 'exponentialHistogram', 'summary']

function fixItemJson (item: Obj, signal: Signal, stamp: Stamp): void {
  if (signal === 'logs') { fixRecordJson(item, stamp); return }
  if (signal === 'traces') {
    fixRecordJson(item, stamp)
    for (const e of [...each(item, 'events'), ...each(item, 'links')]) fixRecordJson(e, stamp)
    return
  }
  for (const kind of METRIC_KINDS) {
    const snake = kind.replace(/[A-Z]/g, (c) => '_' + c.toLowerCase())
    for (const k of snake === kind ? [kind] : [kind, snake]) {
      const data = item[k]
      if (isObj(data)) for (const p of each(data, 'dataPoints')) fixRecordJson(p, stamp)
    }
  }
}

/** Stamp a parsed OTLP/JSON export request in place. Throws `TypeError` when it is not an object. */
export function stampJsonDoc (doc: unknown, signal: Signal, stamp: Stamp): void {
  if (!isObj(doc)) throw new TypeError('OTLP/JSON body is not an object')
  const [top, scopes, items] = JSON_TOP[signal]
  for (const r of each(doc, top)) {
    const res = isObj(r.resource) ? r.resource : (r.resource = {}) as Obj
    const attrs = Array.isArray(res.attributes) ? res.attributes : []
    res.attributes = [
      ...attrs.filter((a) => !(isObj(a) && typeof a.key === 'string' && stamp.resourceKeys.has(a.key))),
      ...stamp.resource.map(([k, v]) => jsonKv(k, v)),
    ]
    for (const s of each(r, scopes)) for (const it of each(s, items)) fixItemJson(it, signal, stamp)
  }
}

export function stampJson (body: Uint8Array, signal: Signal, stamp: Stamp): Uint8Array {
  const doc: unknown = JSON.parse(Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8'))
  stampJsonDoc(doc, signal, stamp)
  return Buffer.from(JSON.stringify(doc), 'utf8')
}

// ---- one batch -------------------------------------------------------------------------------

/** One relayed request, as the primary hands it to the pool. */
export interface StampInput {
  readonly body: ArrayBuffer
  readonly signal: Signal
  readonly json: boolean
  readonly gzip: boolean
  readonly identity: VerifiedIdentity
  readonly labels: Readonly<Record<string, string>>
  /** Largest decompressed body accepted (a gzip bomb is refused, not inflated). */
  readonly maxBytes: number
}

/** Decompress, stamp and recompress one request body. Throws on malformed or oversized input. */
export function stampBatch (t: StampInput): Uint8Array {
  let body: Uint8Array = new Uint8Array(t.body)
  if (t.gzip) body = gunzipSync(body, { maxOutputLength: t.maxBytes })
  else if (body.length > t.maxBytes) throw new RangeError('telemetry body is over the size limit')
  const stamp = makeStamp(t.identity, t.labels)
  const out = t.json ? stampJson(body, t.signal, stamp) : stampProtobuf(body, t.signal, stamp)
  return t.gzip ? gzipSync(out) : out
}

export { ProtobufError }
