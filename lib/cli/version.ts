/**
 * `weir version`: Weir's version and the runtime it would run on — Node (with its module ABI), the
 * uWebSockets.js build that loads here (current or the legacy Node 20 fallback, and why), and the
 * glibc version. `weir --version` prints the bare version for scripts. Exit 1 when no native
 * uWebSockets.js build loads, since `weir serve` would refuse to boot.
 */
import { BootError } from '../errors.js'
import { VERSION } from '../version.js'
import { describeUws, glibcVersion, loadUws } from '../http/native.js'

export async function runVersion (argv: string[]): Promise<number> {
  if (argv.length > 0) {
    process.stderr.write(`weir version: takes no arguments (got '${argv[0]!}')\n`)
    return 64
  }
  const lines = [
    `weir ${VERSION}`,
    `node ${process.version} (ABI ${process.versions.modules}, ${process.platform}-${process.arch})`,
    `glibc ${glibcVersion() ?? 'none'}`,
  ]
  let status = 0
  try {
    const b = loadUws()
    lines.push(`uWebSockets.js ${describeUws(b)}`)
    if (b.legacy) lines.push(`  current build unavailable: ${b.reason ?? 'unknown'}`, '  production belongs on the Weir image or a host with Node 24 and glibc ≥ 2.38')
  } catch (err) {
    if (!(err instanceof BootError)) throw err
    lines.push('uWebSockets.js none: ' + err.message)
    status = 1
  }
  process.stdout.write(lines.join('\n') + '\n')
  return status
}
