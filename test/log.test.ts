import t from 'tap'
import { audit, auditRecord, auditTime, describeError, ops, setLogLevel, setLogSink } from '../lib/log.js'

t.test('audit lines are single JSON objects; ops lines are gated by level', async (t) => {
  const lines: string[] = []
  setLogSink((l) => lines.push(l))
  t.teardown(() => { setLogSink(undefined); setLogLevel('info') })
  audit('config.load', { path: '/x', sha256: 'ab', skipped: undefined })
  const rec = JSON.parse(lines[0] as string)
  t.equal(rec.evt, 'config.load')
  t.equal(rec.path, '/x')
  t.notOk('skipped' in rec)
  t.match(rec.ts, /^\d{4}-\d\d-\d\dT/)
  t.ok((lines[0] as string).endsWith('\n'))

  setLogLevel('warn')
  ops.info('hidden')
  ops.warn('shown\nsecond line\u0001')
  t.equal(lines.length, 2)
  t.match(lines[1], /^\[gateway\] \S+ warn shown\\nsecond line\\u0001\n$/, 'control characters escaped; one line')
  t.equal(setLogLevel('bogus'), 'info', 'unknown level falls back to info')
  ops.info('now shown')
  t.equal(lines.length, 3)
  setLogLevel('error')
  ops.warn('nope')
  t.equal(lines.length, 3)
})

t.test('oversized audit values are truncated to keep a line under PIPE_BUF', async (t) => {
  const lines: string[] = []
  setLogSink((l) => lines.push(l))
  t.teardown(() => setLogSink(undefined))
  audit('inference', { model: 'x'.repeat(10000) })
  t.ok((lines[0] as string).length < 4096)
  t.equal(JSON.parse(lines[0] as string).evt, 'inference')
})

t.test('auditRecord writes the line audit writes for the same fields, byte for byte', async (t) => {
  const lines: string[] = []
  setLogSink((l) => lines.push(l))
  t.teardown(() => setLogSink(undefined))
  const fieldSets: Array<Record<string, unknown>> = [
    {},
    { request_id: 'r-1', sub: 'u-a', email: undefined, model: null, status: 200, ms: 12, bytes: 3456, input_tokens: undefined, abort: undefined },
    { request_id: 'r-2', sub: 'quote " backslash \\ newline \n tab \t ✓ \u0001', upstream: 'up', attempts: 2, load_test: true, hint_x: 'y' },
    { request_id: 'r-3', model: 'x'.repeat(10000), sub: 'u-b' }, // over PIPE_BUF: long strings cut
    { request_id: 'r-4', a: 'x'.repeat(250), b: 'y'.repeat(250), c: 'z'.repeat(250), d: 'w'.repeat(250), e: 'v'.repeat(250), f: 'u'.repeat(250), g: 't'.repeat(250), h: 's'.repeat(250), i: 'r'.repeat(250), j: 'q'.repeat(250), k: 'p'.repeat(250), l: 'o'.repeat(250), m: 'n'.repeat(250), n: 'm'.repeat(250), o: 'l'.repeat(250), p: 'k'.repeat(250), q: 'j'.repeat(250) }, // still over: ts, evt, truncated
  ]
  for (const fields of fieldSets) {
    lines.length = 0
    // Both within one millisecond, or retried: the lines carry the time.
    for (let i = 0; i < 100; i++) {
      lines.length = 0
      audit('inference', fields)
      auditRecord({ ts: auditTime(), evt: 'inference', ...fields })
      if (JSON.parse(lines[0] as string).ts === JSON.parse(lines[1] as string).ts) break
    }
    t.equal(lines[1], lines[0], `the same line (${(lines[0] as string).slice(0, 60)}…)`)
    t.ok((lines[1] as string).length < 4096 && (lines[1] as string).endsWith('\n'), 'under PIPE_BUF, one line')
  }
})

t.test('describeError', async (t) => {
  const e = Object.assign(new Error('refused'), { code: 'ECONNREFUSED' })
  t.equal(describeError(e), 'ECONNREFUSED: refused')
  t.equal(describeError('plain'), 'plain')
})
