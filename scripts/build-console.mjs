// Bundle the operator console (console/app.js, Preact + htm + uPlot) into dist/console/ with
// content-hashed names and a manifest.json that lib/console/assets.ts reads. Uses esbuild-wasm:
// plain JavaScript and WebAssembly, so it runs where no platform binary was installed (the image
// build runs `npm ci --os=none --cpu=none --ignore-scripts`).
import { build } from 'esbuild-wasm'
import { mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { basename, dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const out = join(root, 'dist', 'console')
rmSync(out, { recursive: true, force: true })
mkdirSync(out, { recursive: true })
const r = await build({
  entryPoints: [join(root, 'console', 'app.js')],
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
