// Type-check the operator console (lib/console/ui/*.ts, Preact + htm + uPlot; its own tsconfig
// with DOM types) and bundle it into dist/console/ with
// content-hashed names and a manifest.json that lib/console/assets.ts reads. Uses esbuild-wasm:
// plain JavaScript and WebAssembly, so it runs where no platform binary was installed (the image
// build runs `npm ci --os=none --cpu=none --ignore-scripts`).
import { build } from 'esbuild-wasm'
import { spawnSync } from 'node:child_process'
import { mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { basename, dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const ui = join(root, 'lib', 'console', 'ui')
// esbuild strips types without checking them: check first, with the TypeScript the build uses.
const tsc = spawnSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(ui, 'tsconfig.json')], { stdio: 'inherit' })
if (tsc.status !== 0) { console.error('console build: type errors in lib/console/ui'); process.exit(1) }
const out = join(root, 'dist', 'console')
rmSync(out, { recursive: true, force: true })
mkdirSync(out, { recursive: true })
const r = await build({
  entryPoints: [join(ui, 'app.ts')],
  bundle: true,
  minify: true,
  format: 'esm',
  target: ['chrome109', 'firefox115', 'safari16'],
  outdir: out,
  entryNames: 'app.[hash]',
  assetNames: '[name].[hash]',
  metafile: true,
  legalComments: 'linked',
  logLevel: 'warning',
})
const files = Object.keys(r.metafile.outputs).map((f) => basename(f))
const js = files.find((f) => f.endsWith('.js'))
const css = files.find((f) => f.endsWith('.css'))
if (js === undefined || css === undefined) throw new Error('console build: no script or stylesheet was written')
writeFileSync(join(out, 'manifest.json'), JSON.stringify({ js, css, files }, null, 2) + '\n')
console.log(`console: ${files.join(', ')}`)
