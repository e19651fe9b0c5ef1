/**
 * Reading the Claude Code analytics out of one OTLP metrics export request (protobuf or JSON,
 * optionally gzip-compressed): the data points of the monotonic sums Claude Code emits
 * (`claude_code.session.count`, `lines_of_code.count`, `commit.count`, `pull_request.count`,
 * `code_edit_tool.decision`, `token.usage`, `cost.usage`), with the attributes the Claude Code
 * report splits by. Everything else in the body is skipped.
 *
 * Pure and synchronous: it runs in the primary's Piscina pool (`otlp-task.ts`), never on an HTTP
 * worker. Invariants: a malformed body throws (the caller counts it and moves on); a point is
 * dated by its own end time unless that is more than a day away from when Weir received it (then
 * by the receipt), so a client cannot file its numbers under arbitrary days; non-finite or
 * negative values are skipped. Points carry their temporality and a series key, so the caller
 * can turn cumulative series into increments (analytics.ts).
 */
import { gunzipSync } from 'node:zlib'
import { fields, utf8 } from './protobuf.js'

/** One data point of a Claude Code metric. */
export interface CodePoint {
  /** Metric name without `claude_code.`. */
  readonly metric: string
  readonly k1: string
  readonly k2: string
  readonly value: number
  readonly cumulative: boolean
  /** Identifies a cumulative series: metric, start time and every attribute. */
  readonly series: string
  /** UTC day, YYYY-MM-DD. */
  readonly day: string
}

export interface ExtractInput {
  readonly body: ArrayBuffer
  readonly json: boolean
  readonly gzip: boolean
  readonly maxBytes: number
  /** When Weir received the body, ms. */
  readonly now: number
}

/** Which attributes become k1 and k2, by metric. */
const KEYS: Readonly<Record<string, readonly [string | null, string | null]>> = {
  'session.count': [null, null],
  'lines_of_code.count': ['type', null],
  'commit.count': [null, null],
  'pull_request.count': [null, null],
  'code_edit_tool.decision': ['tool_name', 'decision'],
  'token.usage': ['type', 'model'],
  'cost.usage': [null, 'model'],
}
const PREFIX = 'claude_code.'
const DAY_MS = 86_400_000

interface RawPoint { attrs: Map<string, string>, start: string, endMs: number | null, value: number }

function toPoints (name: string, cumulative: boolean, raw: readonly RawPoint[], now: number, out: CodePoint[]): void {
  if (!name.startsWith(PREFIX)) return
  const metric = name.slice(PREFIX.length)
  const keys = KEYS[metric]
  if (keys === undefined) return
  for (const p of raw) {
    if (!Number.isFinite(p.value) || p.value < 0) continue
    const at = p.endMs !== null && Math.abs(p.endMs - now) <= DAY_MS ? p.endMs : now
    const attrs = [...p.attrs.entries()].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
    out.push({
      metric,
      k1: keys[0] === null ? '' : (p.attrs.get(keys[0]) ?? '').slice(0, 200),
      k2: keys[1] === null ? '' : (p.attrs.get(keys[1]) ?? '').slice(0, 200),
      value: p.value,
      cumulative,
      series: JSON.stringify([metric, p.start, attrs]),
      day: new Date(at).toISOString().slice(0, 10),
    })
  }
}

// ---- protobuf: Export → ResourceMetrics(1) → ScopeMetrics(2) → Metric(2) → Sum(7) → points(1)

const view = (raw: Uint8Array): DataView => new DataView(raw.buffer, raw.byteOffset + raw.length - 8, 8)

function anyValue (data: Uint8Array): string {
  for (const f of fields(data)) {
    if (f.num === 1 && f.wire === 2) return utf8(f.data)
    if (f.num === 2 && f.wire === 0) return String(f.raw[f.raw.length - 1] !== 0)
    if (f.num === 4 && f.wire === 1) return String(view(f.raw).getFloat64(0, true))
  }
  return ''
}

function pointProto (data: Uint8Array): RawPoint {
  const p: RawPoint = { attrs: new Map(), start: '', endMs: null, value: Number.NaN }
  for (const f of fields(data)) {
    if (f.num === 7 && f.wire === 2) {
      let k = ''
      let v = ''
      for (const kv of fields(f.data)) {
        if (kv.num === 1 && kv.wire === 2) k = utf8(kv.data)
        else if (kv.num === 2 && kv.wire === 2) v = anyValue(kv.data)
      }
      p.attrs.set(k, v)
    } else if (f.num === 2 && f.wire === 1) p.start = view(f.raw).getBigUint64(0, true).toString()
    else if (f.num === 3 && f.wire === 1) p.endMs = Number(view(f.raw).getBigUint64(0, true) / 1_000_000n)
    else if (f.num === 4 && f.wire === 1) p.value = view(f.raw).getFloat64(0, true)
    else if (f.num === 6 && f.wire === 1) p.value = Number(view(f.raw).getBigInt64(0, true))
  }
  return p
}

function metricProto (data: Uint8Array, now: number, out: CodePoint[]): void {
  let name = ''
  let sum: Uint8Array | null = null
  for (const f of fields(data)) {
    if (f.num === 1 && f.wire === 2) name = utf8(f.data)
    else if (f.num === 7 && f.wire === 2) sum = f.data
  }
  if (sum === null || !name.startsWith(PREFIX)) return
  let cumulative = false
  const raw: RawPoint[] = []
  for (const f of fields(sum)) {
    if (f.num === 1 && f.wire === 2) raw.push(pointProto(f.data))
    else if (f.num === 2 && f.wire === 0) cumulative = f.raw[f.raw.length - 1] === 2
  }
  toPoints(name, cumulative, raw, now, out)
}

function extractProto (body: Uint8Array, now: number): CodePoint[] {
  const out: CodePoint[] = []
  for (const rm of fields(body)) {
    if (rm.num !== 1 || rm.wire !== 2) continue
    for (const sm of fields(rm.data)) {
      if (sm.num !== 2 || sm.wire !== 2) continue
      for (const m of fields(sm.data)) if (m.num === 2 && m.wire === 2) metricProto(m.data, now, out)
    }
  }
  return out
}

// ---- JSON (camelCase or snake_case members)

type Obj = Record<string, unknown>
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v)
const snake = (k: string): string => k.replace(/[A-Z]/g, (c) => '_' + c.toLowerCase())
const get = (o: Obj, k: string): unknown => o[k] ?? o[snake(k)]
const list = (o: Obj, k: string): Obj[] => { const v = get(o, k); return Array.isArray(v) ? v.filter(isObj) : [] }

function jsonValue (v: unknown): string {
  if (!isObj(v)) return ''
  for (const k of ['stringValue', 'boolValue', 'intValue', 'doubleValue']) {
    const x = get(v, k)
    if (x !== undefined && x !== null) return String(x)
  }
  return ''
}

function extractJson (doc: unknown, now: number): CodePoint[] {
  if (!isObj(doc)) throw new TypeError('OTLP/JSON body is not an object')
  const out: CodePoint[] = []
  for (const rm of list(doc, 'resourceMetrics')) {
    for (const sm of list(rm, 'scopeMetrics')) {
      for (const m of list(sm, 'metrics')) {
        const name = get(m, 'name')
        const sum = get(m, 'sum')
        if (typeof name !== 'string' || !isObj(sum)) continue
        const t = get(sum, 'aggregationTemporality')
        const cumulative = t === 2 || t === 'AGGREGATION_TEMPORALITY_CUMULATIVE'
        const raw = list(sum, 'dataPoints').map((p): RawPoint => {
          const attrs = new Map<string, string>()
          for (const a of list(p, 'attributes')) if (typeof a.key === 'string') attrs.set(a.key, jsonValue(a.value))
          const end = get(p, 'timeUnixNano')
          const endMs = typeof end === 'string' || typeof end === 'number' ? Number(BigInt(String(end).split('.')[0] ?? '0') / 1_000_000n) : null
          const asInt = get(p, 'asInt')
          const asDouble = get(p, 'asDouble')
          const value = asInt !== undefined ? Number(asInt) : typeof asDouble === 'number' || typeof asDouble === 'string' ? Number(asDouble) : Number.NaN
          return { attrs, start: String(get(p, 'startTimeUnixNano') ?? ''), endMs, value }
        })
        toPoints(name, cumulative, raw, now, out)
      }
    }
  }
  return out
}

/** The Claude Code points of one metrics request. Throws on malformed or oversized input. */
export function extractCodePoints (t: ExtractInput): CodePoint[] {
  let body: Uint8Array = new Uint8Array(t.body)
  if (t.gzip) body = gunzipSync(body, { maxOutputLength: t.maxBytes })
  else if (body.length > t.maxBytes) throw new RangeError('telemetry body is over the size limit')
  if (!t.json) return extractProto(body, t.now)
  return extractJson(JSON.parse(Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8')), t.now)
}
