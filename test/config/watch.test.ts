/**
 * lib/config/watch.ts: a rewrite with identical content is not a change; a changed file and a
 * Kubernetes-style symlink swap (`..data` renamed over) each report one change.
 */
import { mkdirSync, mkdtempSync, readFileSync, renameSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { watchConfig } from '../../lib/config/watch.js'

t.test('identical content is ignored; a change and a symlink swap are reported', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'weir-watch-unit-'))
  const publish = (v: string, text: string): void => {
    mkdirSync(join(dir, v))
    writeFileSync(join(dir, v, 'gateway.yaml'), text)
    symlinkSync(v, join(dir, '..data_tmp'))
    renameSync(join(dir, '..data_tmp'), join(dir, '..data'))
  }
  publish('..v1', 'a: 1\n')
  const file = join(dir, 'gateway.yaml')
  symlinkSync('..data/gateway.yaml', file)

  // The watcher holds no reference on the event loop (a serving gateway does); keep this test alive.
  const alive = setInterval(() => {}, 1000)
  t.teardown(() => { clearInterval(alive) })
  const seen: string[] = []
  let wake: (() => void) | null = null
  const stop = watchConfig(file, () => { seen.push(readFileSync(file, 'utf8')); wake?.() }, { settleMs: 20, pollMs: 200 })
  t.teardown(stop)
  const next = async (): Promise<void> => { await new Promise<void>((resolve) => { wake = resolve }) }

  // Same bytes through a swap, then different bytes: the first report must be the different ones.
  let got = next()
  publish('..v2', 'a: 1\n')
  await new Promise((resolve) => setTimeout(resolve, 300))
  publish('..v3', 'a: 2\n')
  await got
  t.same(seen, ['a: 2\n'], 'identical content was not reported; the swap to new content was')

  got = next()
  writeFileSync(join(dir, '..v3', 'gateway.yaml'), 'a: 3\n')
  await got
  t.same(seen, ['a: 2\n', 'a: 3\n'], 'an in-place edit is reported once')
})
