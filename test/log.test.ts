import t from 'tap'
import { audit, describeError, ops, setLogLevel, setLogSink } from '../lib/log.js'

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

t.test('describeError', async (t) => {
  const e = Object.assign(new Error('refused'), { code: 'ECONNREFUSED' })
  t.equal(describeError(e), 'ECONNREFUSED: refused')
  t.equal(describeError('plain'), 'plain')
})
