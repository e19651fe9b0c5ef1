/**
 * Reading Claude Code analytics out of OTLP metrics bodies written by OpenTelemetry's own
 * serializers (protobuf and JSON, gzip), and the primary-side aggregation: delta and cumulative
 * series, day assignment, bounds.
 */
import t from 'tap'
import { gzipSync } from 'node:zlib'
import { extractCodePoints } from '../../lib/telemetry/cc-metrics.js'
import { ccMetrics, DAY_POINTS } from '../reports/cc-otlp.js'

const AT = Date.UTC(2026, 2, 10, 15, 30)
const own = (b: Buffer): ArrayBuffer => b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer

t.test('protobuf, JSON and gzip bodies give the same points', async (t) => {
  const want = DAY_POINTS.filter((p) => p[0] !== 'api.request.count').map(([metric, a, value]) => ({
    metric, value, day: '2026-03-10', cumulative: false,
    k1: metric === 'code_edit_tool.decision' ? a.tool_name : metric === 'token.usage' || metric === 'lines_of_code.count' ? a.type : '',
    k2: metric === 'code_edit_tool.decision' ? a.decision : metric === 'token.usage' || metric === 'cost.usage' ? a.model : '',
  }))
  for (const format of ['protobuf', 'json'] as const) {
    for (const gzip of [false, true]) {
      const body = ccMetrics(DAY_POINTS, { at: AT, format })
      const got = extractCodePoints({ body: own(gzip ? gzipSync(body) : body), json: format === 'json', gzip, maxBytes: 1 << 20, now: AT + 5000 })
      t.same(got.map(({ series: _s, ...p }) => p), want, `${format}${gzip ? ' gzip' : ''}: only Claude Code's report metrics, with their split attributes`)
    }
  }
})

t.test('temporality, series and dates', async (t) => {
  const cum = extractCodePoints({ body: own(ccMetrics([['commit.count', {}, 4]], { at: AT, format: 'protobuf', cumulative: true })), json: false, gzip: false, maxBytes: 1 << 20, now: AT })
  t.equal(cum[0]?.cumulative, true)
  const other = extractCodePoints({ body: own(ccMetrics([['commit.count', { 'session.id': 's-2' }, 4]], { at: AT, format: 'protobuf', cumulative: true })), json: false, gzip: false, maxBytes: 1 << 20, now: AT })
  t.not(cum[0]?.series, other[0]?.series, 'another session is another series')
  const far = extractCodePoints({ body: own(ccMetrics([['commit.count', {}, 1]], { at: Date.UTC(2020, 0, 1), format: 'json' })), json: true, gzip: false, maxBytes: 1 << 20, now: AT })
  t.equal(far[0]?.day, '2026-03-10', 'a point dated far from its receipt is filed under the day it arrived')
  const late = extractCodePoints({ body: own(ccMetrics([['commit.count', {}, 1]], { at: Date.UTC(2026, 2, 9, 23, 59, 59), format: 'json' })), json: true, gzip: false, maxBytes: 1 << 20, now: Date.UTC(2026, 2, 10, 0, 0, 5) })
  t.equal(late[0]?.day, '2026-03-09', 'a point that ended before midnight UTC belongs to that day')
  t.throws(() => extractCodePoints({ body: own(Buffer.from('{"resourceMetrics": [')), json: true, gzip: false, maxBytes: 1 << 20, now: AT }))
  t.throws(() => extractCodePoints({ body: own(Buffer.from([0x0a, 0x05, 0x01])), json: false, gzip: false, maxBytes: 1 << 20, now: AT }))
  t.throws(() => extractCodePoints({ body: own(gzipSync(Buffer.alloc(1 << 16))), json: false, gzip: true, maxBytes: 1024, now: AT }), 'a gzip bomb is refused')
})
