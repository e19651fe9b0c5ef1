/**
 * scripts/check-repeats.mjs, run as anyone runs it (a child `node` process): this repository
 * passes, and small trees that write a block twice fail with a line naming both places; what the
 * script counts as boilerplate (imports, punctuation, comments, blocks of the same shape with other
 * names) does not make a finding.
 */
import { execFile } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import t, { type Test } from 'tap'
import { ROOT } from '../../lib/version.js'

const SCRIPT = join(ROOT, 'scripts', 'check-repeats.mjs')

interface Run { code: number, out: string }

async function check (...args: string[]): Promise<Run> {
  return await new Promise((resolve) => {
    execFile(process.execPath, [SCRIPT, ...args], (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : -1
      resolve({ code, out: stdout + stderr })
    })
  })
}

/** A scratch tree: path → source text. */
function tree (t: Test, files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), 'weir-repeats-'))
  t.teardown(() => { rmSync(root, { recursive: true, force: true }) })
  for (const [p, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, p)), { recursive: true })
    writeFileSync(join(root, p), text)
  }
  return root
}

/** Six significant lines of logic, with `name` in each so two copies can differ by name alone. */
const block = (name: string): string => [
  `  const ${name} = input.trim()`,
  `  if (${name} === '') throw new Error('empty')`,
  `  const parts = ${name}.split(',')`,
  '  for (const p of parts) {',
  '    if (p.length > 64) throw new Error(\'too long\')',
  '    out.push(p.toLowerCase())',
  '  }',
  '  return out',
].join('\n')

const fn = (fname: string, name: string): string => `export function ${fname} (input: string, out: string[]): string[] {\n${block(name)}\n}\n`

t.test('this repository writes no block twice', async (t) => {
  const r = await check()
  t.equal(r.code, 0, r.out)
  t.match(r.out, /^repeats: \d+ files, no run of 6\+ significant lines written twice$/m)
})

t.test('the same block in two files fails, both places named with their source lines', async (t) => {
  const root = tree(t, {
    'lib/a.ts': `import { x } from './x.js'\n\n${fn('parseA', 'v')}`,
    'workers/b.ts': `// the same logic, pasted\nexport const k = 1\n\n${fn('parseB', 'v')}`,
  })
  const r = await check(root)
  t.equal(r.code, 1, r.out)
  // Lines 4-11 of lib/a.ts (the body; the signature lines differ by name); 5-12 of workers/b.ts.
  t.match(r.out, 'FAIL repeated block (7 lines): lib/a.ts:4-11 = workers/b.ts:5-12')
  t.match(r.out, /repeats: 1 block\(s\) written twice in 2 files/)
})

t.test('a block written twice in one file fails', async (t) => {
  const root = tree(t, { 'lib/one.ts': `${fn('first', 'v')}\n${fn('second', 'v')}` })
  const r = await check(root)
  t.equal(r.code, 1, r.out)
  t.match(r.out, 'FAIL repeated block (7 lines): lib/one.ts:2-9 = lib/one.ts:13-20')
  t.equal(r.out.match(/^FAIL/gm)?.length, 1, 'one finding for the run, not one per window inside it')
})

t.test('boilerplate is not a finding: same shape with other names, imports, punctuation, comments', async (t) => {
  const imports = Array.from({ length: 8 }, (_, i) => `import { m${i} } from './m${i}.js'`).join('\n')
  const commented = `/*\n${block('v')}\n*/\n${block('v').split('\n').map((l) => `// ${l}`).join('\n')}\n`
  const root = tree(t, {
    'lib/a.ts': `${imports}\n${fn('parseA', 'v')}`,
    'lib/b.ts': `${imports}\n${fn('parseB', 'w')}`,
    'lib/c.ts': `${commented}export const c = 1\n`,
    'bin/d.ts': '{\n}\n)\n];\n'.repeat(4),
    'lib/e.d.ts': fn('declared', 'v'),
    'test/f.ts': fn('parseA', 'v'),
  })
  const r = await check(root)
  t.equal(r.code, 0, r.out)
  t.match(r.out, 'repeats: 4 files, no run of 6+ significant lines written twice')
})

t.test('a `//` inside a string is text, not a comment', async (t) => {
  const withUrl = (f: string): string => fn(f, 'v').replace("'empty'", "'see https://example.test/a'")
  const root = tree(t, { 'lib/a.ts': withUrl('a'), 'lib/b.ts': withUrl('b').replace('https://example.test/a', 'https://example.test/b') })
  const r = await check(root)
  t.equal(r.code, 0, `the lines differ after the '//' in the string:\n${r.out}`)
})

t.test('--min sets the shortest run reported', async (t) => {
  const root = tree(t, { 'lib/a.ts': fn('parseA', 'v'), 'lib/b.ts': fn('parseB', 'v') })
  t.equal((await check(root, '--min', '8')).code, 0, 'a 7-line run is under 8')
  const r = await check(root, '--min', '7')
  t.equal(r.code, 1)
  t.match(r.out, 'FAIL repeated block (7 lines): lib/a.ts:2-9 = lib/b.ts:2-9')
})

t.test('usage errors', async (t) => {
  const bad = await check('--min', '1')
  t.equal(bad.code, 2)
  t.match(bad.out, '--min takes a whole number')
  const missing = await check(join(tmpdir(), 'weir-repeats-does-not-exist'))
  t.equal(missing.code, 2)
  t.match(missing.out, 'is not a folder')
})
