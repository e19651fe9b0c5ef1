/**
 * lib/telemetry/analytics.ts: the last value of each cumulative series is remembered in a bounded
 * cache. A flood of new series beyond MAX_SERIES forgets the least recently seen ones only — a
 * series in steady use keeps adding its increase, not its whole value again (the table used to be
 * cleared when full, so every live series was counted in full once more). Against real Postgres.
 */
import t from 'tap'
import { CodeAnalytics, MAX_SERIES } from '../../lib/telemetry/analytics.js'
import { extractCodePoints, type CodePoint } from '../../lib/telemetry/cc-metrics.js'
import { freshDatabase } from '../helpers/pg.js'
import { ccMetrics } from '../reports/cc-otlp.js'

const at = Date.UTC(2026, 2, 10, 12)
const pts = (v: number, session: string): CodePoint[] => {
  const b = ccMetrics([['commit.count', { 'session.id': session }, v]], { at, format: 'protobuf', cumulative: true, start: at - 3_600_000 })
  return extractCodePoints({ body: b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer, json: false, gzip: false, maxBytes: 1 << 20, now: at })
}

t.test('a cumulative series in steady use survives a flood of new series', async (t) => {
  const { sql } = await freshDatabase(t, { migrate: true })
  const a = new CodeAnalytics(sql, null, 1 << 20, 60_000)
  let hot = 10
  a.add('u-hot', pts(hot, 's-hot'))
  const base = pts(1, 's-flood')[0]
  t.ok(base?.cumulative === true, 'the flood points are cumulative')
  if (base === undefined) return
  const flood = MAX_SERIES + 20_000
  for (let i = 0; i < flood; i++) {
    a.add('u-flood', [{ ...base, series: `${base.series}-${i}` }])
    if (i % 10_000 === 0) { hot += 10; a.add('u-hot', pts(hot, 's-hot')) }
  }
  hot += 10
  a.add('u-hot', pts(hot, 's-hot'))
  await a.stop()
  const rows = await sql`select principal, value::text as v from claude_code_daily where day = '2026-03-10' order by principal`
  t.same(rows.map((r) => [r.principal, r.v]), [['u-flood', String(flood)], ['u-hot', String(hot)]],
    'the steady series adds only its increases; each new flood series its first value')
  t.equal(a.dropped, 0)
})
