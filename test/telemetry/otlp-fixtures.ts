/**
 * OTLP request bodies for tests, produced by OpenTelemetry's own serializers
 * (@opentelemetry/otlp-transformer, protobuf and JSON), and a small decoder that reads back what
 * the tests check: resource attributes and each record's attributes. The decoder is checked
 * against the official encoder (it must find the attributes that encoder wrote), so the field
 * numbers it uses cannot silently drift from OTLP's.
 */
import { ValueType } from '@opentelemetry/api'
import {
  JsonLogsSerializer, JsonMetricsSerializer, JsonTraceSerializer,
  ProtobufLogsSerializer, ProtobufMetricsSerializer, ProtobufTraceSerializer,
} from '@opentelemetry/otlp-transformer'
import { resourceFromAttributes } from '@opentelemetry/resources'
import { AggregationTemporality, DataPointType, type ResourceMetrics } from '@opentelemetry/sdk-metrics'
import { fields, utf8 } from '../../lib/telemetry/protobuf.js'
import type { Signal } from '../../lib/telemetry/otlp.js'

type Attrs = Record<string, string>

export interface Fixture {
  /** Resource attributes the client claims. */
  resource: Attrs
  /** Attributes on every record (data point, log record, span, span event, span link). */
  record: Attrs
}

function metrics (f: Fixture): ResourceMetrics {
  const t0: [number, number] = [1_700_000_000, 0]
  const t1: [number, number] = [1_700_000_060, 0]
  return {
    resource: resourceFromAttributes(f.resource),
    scopeMetrics: [{
      scope: { name: 'com.anthropic.claude_code', version: '2.1.328' },
      metrics: [
        {
          descriptor: { name: 'claude_code.token.usage', description: 'tokens', unit: 'tokens', valueType: ValueType.INT },
          aggregationTemporality: AggregationTemporality.DELTA,
          dataPointType: DataPointType.SUM,
          isMonotonic: true,
          dataPoints: [
            { startTime: t0, endTime: t1, attributes: { ...f.record, type: 'input' }, value: 1200 },
            { startTime: t0, endTime: t1, attributes: { ...f.record, type: 'output' }, value: 340 },
          ],
        },
        {
          descriptor: { name: 'claude_code.session.count', description: '', unit: '', valueType: ValueType.INT },
          aggregationTemporality: AggregationTemporality.CUMULATIVE,
          dataPointType: DataPointType.GAUGE,
          dataPoints: [{ startTime: t0, endTime: t1, attributes: { ...f.record }, value: 1 }],
        },
        {
          descriptor: { name: 'claude_code.api.latency', description: '', unit: 'ms', valueType: ValueType.DOUBLE },
          aggregationTemporality: AggregationTemporality.DELTA,
          dataPointType: DataPointType.HISTOGRAM,
          dataPoints: [{ startTime: t0, endTime: t1, attributes: { ...f.record }, value: { buckets: { boundaries: [10, 100], counts: [1, 2, 0] }, sum: 150, count: 3, min: 5, max: 90 } }],
        },
      ],
    }],
  }
}

function logs (f: Fixture): unknown[] {
  const resource = resourceFromAttributes(f.resource)
  const scope = { name: 'com.anthropic.claude_code.events', version: '2.1.328' }
  return ['user_prompt', 'api_request'].map((body) => ({
    hrTime: [1_700_000_000, 5], hrTimeObserved: [1_700_000_000, 6], severityNumber: 9, severityText: 'INFO', body,
    attributes: { ...f.record, 'event.name': body }, droppedAttributesCount: 0, resource, instrumentationScope: scope,
  }))
}

function traces (f: Fixture): unknown[] {
  const ctx = { traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331', traceFlags: 1 }
  return [{
    name: 'claude_code.interaction', kind: 0, spanContext: () => ctx, parentSpanContext: undefined,
    startTime: [1_700_000_000, 0], endTime: [1_700_000_001, 0], duration: [1, 0], ended: true, status: { code: 0 },
    attributes: { ...f.record, 'span.kind.detail': 'interaction' },
    events: [{ name: 'tool', time: [1_700_000_000, 500], attributes: { ...f.record } }],
    links: [{ context: { ...ctx, spanId: '00f067aa0ba902b7' }, attributes: { ...f.record } }],
    resource: resourceFromAttributes(f.resource), instrumentationScope: { name: 'com.anthropic.claude_code.tracing' },
    droppedAttributesCount: 0, droppedEventsCount: 0, droppedLinksCount: 0,
  }]
}

/** An OTLP export request for `signal`, protobuf or JSON, as bytes. */
export function otlpBody (signal: Signal, format: 'protobuf' | 'json', f: Fixture): Buffer {
  const ser = format === 'protobuf'
    ? { metrics: ProtobufMetricsSerializer, logs: ProtobufLogsSerializer, traces: ProtobufTraceSerializer }
    : { metrics: JsonMetricsSerializer, logs: JsonLogsSerializer, traces: JsonTraceSerializer }
  const input = signal === 'metrics' ? metrics(f) : signal === 'logs' ? logs(f) : traces(f)
  const out = (ser[signal] as { serializeRequest: (x: unknown) => Uint8Array | undefined }).serializeRequest(input)
  if (out === undefined) throw new Error('serializer returned nothing')
  return Buffer.from(out)
}

// ---- decoding (tests only) ---------------------------------------------------------------------

/** What the tests look at in one decoded request. */
export interface Decoded {
  /** Per resource entry: its attributes (a repeated key shows as an array of values). */
  resources: Array<Record<string, string | string[]>>
  /** Every record's attributes, in order. */
  records: Array<Record<string, string | string[]>>
  /** Metric names, log bodies or span names, to check the payload otherwise survived. */
  names: string[]
}

function put (o: Record<string, string | string[]>, k: string, v: string): void {
  const prev = o[k]
  o[k] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v]
}

function pbAttrs (data: Uint8Array, into: Record<string, string | string[]>): void {
  let key = ''
  let value = ''
  for (const f of fields(data)) {
    if (f.num === 1) key = utf8(f.data)
    if (f.num === 2) for (const a of fields(f.data)) if (a.num === 1 && a.wire === 2) value = utf8(a.data)
  }
  put(into, key, value)
}

function sub (data: Uint8Array, num: number): Uint8Array[] {
  return [...fields(data)].filter((f) => f.num === num && f.wire === 2).map((f) => f.data)
}

/** Decode a protobuf export request. */
export function decodeProtobuf (signal: Signal, body: Uint8Array): Decoded {
  const d: Decoded = { resources: [], records: [], names: [] }
  const record = (data: Uint8Array, attrField: number): void => {
    const a: Record<string, string | string[]> = {}
    for (const kv of sub(data, attrField)) pbAttrs(kv, a)
    d.records.push(a)
  }
  for (const rx of sub(body, 1)) {
    const res: Record<string, string | string[]> = {}
    for (const r of sub(rx, 1)) for (const kv of sub(r, 1)) pbAttrs(kv, res)
    d.resources.push(res)
    for (const scope of sub(rx, 2)) {
      for (const item of sub(scope, 2)) {
        if (signal === 'metrics') {
          d.names.push(utf8(sub(item, 1)[0] ?? new Uint8Array()))
          // gauge 5, sum 7: NumberDataPoint.attributes 7; histogram 9: attributes 9
          for (const [kind, attr] of [[5, 7], [7, 7], [9, 9], [10, 1], [11, 7]] as const) {
            for (const m of sub(item, kind)) for (const p of sub(m, 1)) record(p, attr)
          }
        } else if (signal === 'logs') {
          for (const b of sub(item, 5)) for (const s of sub(b, 1)) d.names.push(utf8(s))
          record(item, 6)
        } else {
          d.names.push(utf8(sub(item, 5)[0] ?? new Uint8Array()))
          record(item, 9)
          for (const e of sub(item, 11)) record(e, 3)
          for (const l of sub(item, 13)) record(l, 4)
        }
      }
    }
  }
  return d
}

type J = Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any

function jsonAttrs (list: J[] | undefined): Record<string, string | string[]> {
  const o: Record<string, string | string[]> = {}
  for (const kv of list ?? []) put(o, kv.key, kv.value?.stringValue ?? JSON.stringify(kv.value))
  return o
}

/** Decode an OTLP/JSON export request. */
export function decodeJson (signal: Signal, body: Uint8Array): Decoded {
  const doc = JSON.parse(Buffer.from(body).toString('utf8')) as J
  const d: Decoded = { resources: [], records: [], names: [] }
  const [top, scopes, items] = signal === 'metrics' ? ['resourceMetrics', 'scopeMetrics', 'metrics'] : signal === 'logs' ? ['resourceLogs', 'scopeLogs', 'logRecords'] : ['resourceSpans', 'scopeSpans', 'spans']
  for (const rx of doc[top] ?? []) {
    d.resources.push(jsonAttrs(rx.resource?.attributes))
    for (const s of rx[scopes] ?? []) {
      for (const it of s[items] ?? []) {
        if (signal === 'metrics') {
          d.names.push(it.name)
          for (const k of ['gauge', 'sum', 'histogram', 'exponentialHistogram', 'summary']) for (const p of it[k]?.dataPoints ?? []) d.records.push(jsonAttrs(p.attributes))
        } else if (signal === 'logs') {
          d.names.push(it.body?.stringValue)
          d.records.push(jsonAttrs(it.attributes))
        } else {
          d.names.push(it.name)
          d.records.push(jsonAttrs(it.attributes))
          for (const e of [...(it.events ?? []), ...(it.links ?? [])]) d.records.push(jsonAttrs(e.attributes))
        }
      }
    }
  }
  return d
}

export function decode (signal: Signal, contentType: string, body: Uint8Array): Decoded {
  return contentType.startsWith('application/json') ? decodeJson(signal, body) : decodeProtobuf(signal, body)
}
