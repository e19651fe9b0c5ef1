/**
 * Claude Code metrics export requests for tests, written by OpenTelemetry's own serializers
 * (@opentelemetry/otlp-transformer, protobuf and JSON), with the metric names and attributes
 * Claude Code uses.
 */
import { ValueType } from '@opentelemetry/api'
import { JsonMetricsSerializer, ProtobufMetricsSerializer } from '@opentelemetry/otlp-transformer'
import { resourceFromAttributes } from '@opentelemetry/resources'
import { AggregationTemporality, DataPointType, type ResourceMetrics } from '@opentelemetry/sdk-metrics'

/** [metric name without `claude_code.`, attributes, value] */
export type CcPoint = [string, Record<string, string>, number]

export function ccMetrics (points: readonly CcPoint[], opts: { at: number, format: 'protobuf' | 'json', cumulative?: boolean, start?: number, resource?: Record<string, string> }): Buffer {
  const t1: [number, number] = [Math.floor(opts.at / 1000), (opts.at % 1000) * 1_000_000]
  const s = opts.start ?? opts.at - 60_000
  const t0: [number, number] = [Math.floor(s / 1000), (s % 1000) * 1_000_000]
  const byName = new Map<string, CcPoint[]>()
  for (const p of points) byName.set(p[0], [...(byName.get(p[0]) ?? []), p])
  const rm: ResourceMetrics = {
    resource: resourceFromAttributes({ 'service.name': 'claude-code', 'user.email': 'forged@evil.example', ...opts.resource }),
    scopeMetrics: [{
      scope: { name: 'com.anthropic.claude_code', version: '2.1.328' },
      metrics: [...byName.entries()].map(([name, ps]) => ({
        descriptor: { name: `claude_code.${name}`, description: '', unit: '', valueType: name === 'cost.usage' ? ValueType.DOUBLE : ValueType.INT },
        aggregationTemporality: opts.cumulative === true ? AggregationTemporality.CUMULATIVE : AggregationTemporality.DELTA,
        dataPointType: DataPointType.SUM,
        isMonotonic: true,
        dataPoints: ps.map(([, attributes, value]) => ({ startTime: t0, endTime: t1, attributes: { 'session.id': 's-1', ...attributes }, value })),
      })),
    }],
  }
  const ser = opts.format === 'protobuf' ? ProtobufMetricsSerializer : JsonMetricsSerializer
  const out = (ser as { serializeRequest: (x: unknown) => Uint8Array | undefined }).serializeRequest(rm)
  if (out === undefined) throw new Error('serializer returned nothing')
  return Buffer.from(out)
}

/** A day's worth of one developer's metrics, as Claude Code reports them. */
export const DAY_POINTS: CcPoint[] = [
  ['session.count', {}, 2],
  ['lines_of_code.count', { type: 'added' }, 342],
  ['lines_of_code.count', { type: 'removed' }, 128],
  ['commit.count', {}, 3],
  ['pull_request.count', {}, 1],
  ['code_edit_tool.decision', { tool_name: 'Edit', decision: 'accept', language: 'TypeScript' }, 25],
  ['code_edit_tool.decision', { tool_name: 'Edit', decision: 'reject', language: 'TypeScript' }, 3],
  ['code_edit_tool.decision', { tool_name: 'Write', decision: 'accept', language: 'Markdown' }, 8],
  ['code_edit_tool.decision', { tool_name: 'NotebookEdit', decision: 'reject', language: 'Python' }, 2],
  ['token.usage', { type: 'input', model: 'claude-sonnet-4-5' }, 45_230],
  ['token.usage', { type: 'output', model: 'claude-sonnet-4-5' }, 12_450],
  ['token.usage', { type: 'cacheRead', model: 'claude-sonnet-4-5' }, 8790],
  ['token.usage', { type: 'cacheCreation', model: 'claude-sonnet-4-5' }, 2340],
  ['token.usage', { type: 'input', model: 'claude-haiku-4-5' }, 100],
  ['cost.usage', { model: 'claude-sonnet-4-5' }, 1.86],
  ['cost.usage', { model: 'claude-haiku-4-5' }, 0.0001],
  ['api.request.count', { model: 'claude-haiku-4-5' }, 9],
]
