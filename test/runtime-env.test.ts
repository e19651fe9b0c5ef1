/**
 * Environment knobs read once into a frozen object (lib/runtime-env.ts), and the modules that used
 * to read `process.env` at load: the ops log level (lib/log.ts) and the metering flush interval
 * (lib/metering/outbox.ts, meter.ts).
 */
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { DEFAULT_METER_FLUSH_MS, DEFAULT_SSE_PING_MS, readRuntimeEnv, runtimeEnv, setRuntimeEnv } from '../lib/runtime-env.js'
import { Outbox, flushMs } from '../lib/metering/outbox.js'
import type { UsageBatch } from '../lib/metering/records.js'

t.test('the knobs and their defaults', async (t) => {
  const d = readRuntimeEnv({})
  t.same(d, { logLevel: undefined, meterFlushMs: DEFAULT_METER_FLUSH_MS, ssePingMs: DEFAULT_SSE_PING_MS })
  t.equal(DEFAULT_METER_FLUSH_MS, 100)
  t.equal(DEFAULT_SSE_PING_MS, 15_000)
  t.ok(Object.isFrozen(d), 'frozen')
  const r = readRuntimeEnv({ CLAUDE_GATEWAY_LOG_LEVEL: 'warn', WEIR_METER_FLUSH_MS: '600000', WEIR_SSE_PING_MS: '250' })
  t.same(r, { logLevel: 'warn', meterFlushMs: 600_000, ssePingMs: 250 })
  for (const bad of ['0', '-5', 'soon', '']) {
    const b = readRuntimeEnv({ WEIR_METER_FLUSH_MS: bad, WEIR_SSE_PING_MS: bad })
    t.equal(b.meterFlushMs, 100, `WEIR_METER_FLUSH_MS=${JSON.stringify(bad)} keeps the default`)
    t.equal(b.ssePingMs, 15_000, `WEIR_SSE_PING_MS=${JSON.stringify(bad)} keeps the default`)
  }
})

t.test('the process environment is read once; a worker installs the primary\'s values', async (t) => {
  const before = runtimeEnv()
  t.equal(runtimeEnv(), before, 'the same object every call')
  const saved = process.env.WEIR_METER_FLUSH_MS
  process.env.WEIR_METER_FLUSH_MS = '777'
  t.equal(runtimeEnv().meterFlushMs, before.meterFlushMs, 'a later change to process.env is not seen')
  if (saved === undefined) delete process.env.WEIR_METER_FLUSH_MS; else process.env.WEIR_METER_FLUSH_MS = saved
  t.teardown(() => { setRuntimeEnv(before) })
  // What a worker does with BootInfo.runtime (it arrives unfrozen through structured clone).
  setRuntimeEnv(structuredClone(readRuntimeEnv({ WEIR_METER_FLUSH_MS: '30' })))
  t.ok(Object.isFrozen(runtimeEnv()))
  t.equal(flushMs(), 30)
})

t.test('the outbox flushes on the installed interval', async (t) => {
  const before = runtimeEnv()
  t.teardown(() => { setRuntimeEnv(before) })
  setRuntimeEnv(readRuntimeEnv({ WEIR_METER_FLUSH_MS: '600000' }))
  const shipped: UsageBatch[] = []
  const slow = new Outbox('h-slow', (x) => shipped.push(x))
  slow.batch.add(() => {})
  slow.touched()
  setRuntimeEnv(readRuntimeEnv({ WEIR_METER_FLUSH_MS: '20' }))
  const fast = new Outbox('h-fast', (x) => shipped.push(x))
  fast.batch.add(() => {})
  fast.touched()
  const deadline = Date.now() + 5000
  while (shipped.length === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10))
  t.same(shipped.map((b) => b.holder), ['h-fast'], 'the 20 ms outbox shipped; the 10 min one waits')
  fast.close()
  slow.close()
})

t.test('CLAUDE_GATEWAY_LOG_LEVEL sets the ops threshold at start', async (t) => {
  const log = fileURLToPath(new URL('../lib/log.js', import.meta.url))
  const script = `const { ops } = await import(${JSON.stringify(log)}); ops.info('info-line'); ops.warn('warn-line')`
  const run = (level: string | undefined): string => {
    const env = { ...process.env }
    delete env.CLAUDE_GATEWAY_LOG_LEVEL
    if (level !== undefined) env.CLAUDE_GATEWAY_LOG_LEVEL = level
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { env, encoding: 'utf8' })
    return r.stdout + r.stderr
  }
  const warn = run('warn')
  t.notMatch(warn, /info-line/, 'warn hides info')
  t.match(warn, /warn warn-line/)
  const dflt = run(undefined)
  t.match(dflt, /info info-line/, 'info by default')
  t.match(run('bogus'), /info info-line/, 'an unknown level means info')
})
