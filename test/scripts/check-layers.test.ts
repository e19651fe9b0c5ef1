/**
 * scripts/check-layers.mjs, run as anyone runs it (a child `node` process): this repository passes,
 * and small trees that break each rule fail with a line naming the offending import.
 */
import { execFile } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import t, { type Test } from 'tap'
import { ROOT } from '../../lib/version.js'

const SCRIPT = join(ROOT, 'scripts', 'check-layers.mjs')

interface Run { code: number, out: string }

async function check (root: string): Promise<Run> {
  return await new Promise((resolve) => {
    execFile(process.execPath, [SCRIPT, root], (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : -1
      resolve({ code, out: stdout + stderr })
    })
  })
}

/** A scratch tree: path → source text. */
function tree (t: Test, files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), 'weir-layers-'))
  t.teardown(() => { rmSync(root, { recursive: true, force: true }) })
  for (const [p, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, p)), { recursive: true })
    writeFileSync(join(root, p), text)
  }
  return root
}

const CLEAN = {
  'lib/errors.ts': 'export const E = 1\n',
  'lib/net/client-ip.ts': "import { E } from '../errors.js'\nexport const ip = E\n",
  'lib/http/router.ts': "import { E } from '../errors.js'\nimport { ip } from '../net/client-ip.js'\n// import '../auth/routes.js' in a comment is not an import\n/* import { auth } from '../auth/routes.js' */\nexport const r = E + ip\n",
  'lib/auth/routes.ts': "import { r } from '../http/router.js'\nexport const auth = r\n",
  'workers/routes.ts': "import { auth } from '../lib/auth/routes.js'\nimport type { E } from '../lib/errors.js'\nexport const all = [auth]\n",
  'bin/weir.ts': "await import('../workers/routes.js')\n",
}

t.test('this repository keeps the rules', async (t) => {
  const r = await check(ROOT)
  t.equal(r.code, 0, r.out)
  t.match(r.out, /^layers: \d+ files, \d+ imports, framework below features, lib\/ never imports workers\/, no circles, metering below spend$/m)
})

t.test('a clean tree passes, comments and packages aside', async (t) => {
  const r = await check(tree(t, { ...CLEAN, 'lib/http/body.ts': "import { x } from 'uWebSockets.js'\nimport { r } from './router.js'\nexport const b = [x, r]\n" }))
  t.equal(r.code, 0, r.out)
  t.match(r.out, /layers: 7 files, 8 imports/)
})

t.test('the framework importing a feature fails', async (t) => {
  const r = await check(tree(t, { ...CLEAN, 'lib/http/routes.ts': "import { auth } from '../auth/routes.js'\nexport const x = auth\n" }))
  t.equal(r.code, 1)
  t.match(r.out, 'FAIL framework imports a feature: lib/http/routes.ts → lib/auth/routes.ts')
  t.match(r.out, /layers: 1 finding\(s\)/)
})

t.test('a type-only import from the framework into a feature fails too', async (t) => {
  const r = await check(tree(t, { ...CLEAN, 'lib/services.ts': 'export interface S { a: number }\n', 'lib/http/ctx.ts': "import type { S } from '../services.js'\nexport type C = S\n" }))
  t.equal(r.code, 1)
  t.match(r.out, 'FAIL framework imports a feature: lib/http/ctx.ts → lib/services.ts')
})

t.test('lib importing workers fails, dynamic import included', async (t) => {
  const r = await check(tree(t, { ...CLEAN, 'lib/cli/main.ts': "export const load = async () => await import('../../workers/routes.js')\n" }))
  t.equal(r.code, 1)
  t.match(r.out, 'FAIL lib imports workers: lib/cli/main.ts → workers/routes.ts')
})

t.test('an import circle fails, named by its files', async (t) => {
  const r = await check(tree(t, {
    ...CLEAN,
    'lib/admin/service.ts': "import { e } from './effective.js'\nexport const s = e\n",
    'lib/admin/effective.ts': "import type { s } from './service.js'\nexport const e = 1\n",
  }))
  t.equal(r.code, 1)
  t.match(r.out, 'FAIL import circle: lib/admin/effective.ts ↔ lib/admin/service.ts')
  t.notMatch(r.out, /framework imports|lib imports workers/)
})

t.test('metering importing spend fails (money flows one way); spend importing metering passes', async (t) => {
  const money = {
    ...CLEAN,
    'lib/metering/charges.ts': "export const drawDown = 1\n",
    'lib/spend/store.ts': "import { drawDown } from '../metering/charges.js'\nexport const lease = drawDown\n",
  }
  t.equal((await check(tree(t, money))).code, 0, 'spend above metering')
  const r = await check(tree(t, { ...money, 'lib/metering/ledger.ts': "import type { lease } from '../spend/store.js'\nexport type L = typeof lease\n" }))
  t.equal(r.code, 1)
  t.match(r.out, 'FAIL one-way folders imported backwards: lib/metering/ledger.ts → lib/spend/store.ts (lib/spend/ stands above lib/metering/)')
})

t.test('a missing folder is a usage error', async (t) => {
  const r = await check(join(tmpdir(), 'weir-layers-does-not-exist'))
  t.equal(r.code, 2)
  t.match(r.out, 'is not a folder')
})
