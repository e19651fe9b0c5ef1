/**
 * SIGTERM to `weir serve` with streams in flight: the streams already started run to their end
 * (complete, `message_stop` included), their spend is written to Postgres before the process
 * exits, and it exits 0.
 */
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import t from 'tap'
import { request } from 'undici'
import { stringify } from 'yaml'
import { ROOT } from '../../lib/version.js'
import { simpleStream, startFakeUpstream } from '../helpers/fake-upstream.js'
import { freePort } from '../helpers/pg.js'
import { BODY, ONE_CENT, bearer, eventually } from '../integration/spend-helpers.js'
import { spendServeConfig, spentMicro } from './rig.js'

const STREAMS = 6


t.test('SIGTERM with streams in flight: they finish, their spend is written, exit 0', async (t) => {
  let open!: () => void
  const gate = new Promise<void>((resolve) => { open = resolve })
  // Each stream sends message_start, then waits for the gate: it is in flight when SIGTERM comes.
  const fake = await startFakeUpstream(() => ({ kind: 'sse', frames: simpleStream('done', ONE_CENT), gate, gateAfter: 1 }))
  t.teardown(() => fake.close())
  const { cfg, dbUrl } = await spendServeConfig(t, fake)
  const port = await freePort()
  const dir = mkdtempSync(join(tmpdir(), 'weir-sigterm-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  cfg.listen = { host: '127.0.0.1', port }
  writeFileSync(join(dir, 'gateway.yaml'), stringify(cfg))
  // Flush timers far away: only the shutdown itself can write the records.
  const child = spawn(process.execPath, [resolve(ROOT, 'dist', 'bin', 'weir.js'), 'serve', '--config', join(dir, 'gateway.yaml'), '--workers', '2'], {
    env: { ...process.env, CLAUDE_GATEWAY_ALLOW_LOOPBACK: '1', WEIR_METER_FLUSH_MS: '600000', CLAUDE_GATEWAY_DRAIN_TIMEOUT_MS: '20000' },
    stdio: ['ignore', 'ignore', 'pipe'],
  })
  let stderr = ''
  child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d })
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL') })
  await eventually(async () => stderr.includes('weir listening on'), `weir serve to start: ${stderr}`, 30_000)

  const url = `http://127.0.0.1:${port}`
  const token = bearer('u-term')
  const streams = await Promise.all(Array.from({ length: STREAMS }, async () => await request(`${url}/v1/messages`, {
    method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: BODY,
  })))
  t.ok(streams.every((r) => r.statusCode === 200), 'every stream started')
  await eventually(async () => fake.requests.length === STREAMS, 'every stream to reach the upstream')
  const texts = streams.map(async (r) => await r.body.text())

  child.kill('SIGTERM')
  await new Promise((resolve) => setTimeout(resolve, 300))
  t.equal(child.exitCode, null, 'still draining while streams are in flight')
  open()
  const bodies = await Promise.all(texts)
  for (const b of bodies) {
    t.match(b, /event: message_stop/, 'the stream finished complete')
    t.notMatch(b, /event: error/)
  }
  t.equal(await exited, 0, 'clean exit')
  t.equal(await spentMicro(dbUrl, 'u-term'), STREAMS * 1_000_000, 'every stream\'s cent written before exit')
})
