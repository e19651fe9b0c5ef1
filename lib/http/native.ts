/**
 * Which uWebSockets.js build this process runs, chosen once per thread.
 *
 * Two builds are installed (package.json):
 * - `uWebSockets.js` — the current build (@btc-vision/uwebsockets.js, pinned exactly): Node
 *   20/22/24/25 binaries that need glibc ≥ 2.38 (Debian 13, Ubuntu 24.04, the Weir image).
 * - `uWebSockets.js-legacy-node20` — an optional dependency holding the old v20.30 build with
 *   Node 20 binaries that load on older glibc (Debian 12, Ubuntu 22.04, RHEL 9), so
 *   `npm ci && npx weir dev` keeps working there. It is the development fallback, never the
 *   production target.
 *
 * Invariants:
 * - The current build is always tried first; the legacy one only when the current cannot load.
 * - Weir never boots on a JavaScript shim (the old package silently falls back to one, which lacks
 *   SSLApp and us_listen_socket_close — that is how it is told apart), nor with UWS_USE_FALLBACK.
 * - The choice is deterministic for a given Node, platform and glibc, so the primary and every
 *   worker thread load the same build; `uwsStartupLine()` is the one line the primary prints when
 *   the fallback runs.
 */
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join, sep } from 'node:path'
import { isMainThread } from 'node:worker_threads'
import { BootError } from '../errors.js'

export type Uws = typeof import('uWebSockets.js')

export interface UwsBuild {
  module: Uws
  /** npm package the binary came from, e.g. `@btc-vision/uwebsockets.js`. */
  pkg: string
  version: string
  /** True when the legacy Node 20 build runs because the current one cannot load here. */
  legacy: boolean
  /** Why the current build did not load (legacy only): its loader's error, first line. */
  reason?: string
}

const CURRENT = 'uWebSockets.js'
const LEGACY = 'uWebSockets.js-legacy-node20'

let chosen: UwsBuild | undefined

/** glibc version of the running process (`2.36`), or undefined on musl and non-Linux hosts. */
export function glibcVersion (): string | undefined {
  const header = (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined)?.header
  return header?.glibcVersionRuntime
}

function isNative (mod: Record<string, unknown>): boolean {
  return typeof mod.App === 'function' && typeof mod.SSLApp === 'function' && typeof mod.us_listen_socket_close === 'function'
}

function firstLine (err: unknown): string {
  const text = err instanceof Error ? err.message : String(err)
  // The current build's message is a banner followed by the loader's own error: keep the cause.
  const lines = text.split('\n').map((l) => l.trim()).filter((l) => l !== '')
  return (lines.find((l) => /^Error:/.test(l)) ?? lines[0] ?? 'unknown error').replace(/^Error:\s*/, '')
}

/** The installed package's real name and version (its package.json is not exported, so it is read from disk). */
function packageInfo (require: NodeJS.Require, name: string): { pkg: string, version: string } {
  const main = require.resolve(name)
  const marker = `${sep}node_modules${sep}${name}${sep}`
  const dir = main.slice(0, main.lastIndexOf(marker) + marker.length)
  const meta = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name: string, version: string }
  return { pkg: meta.name, version: meta.version }
}

/**
 * The largest request head (request line + headers) the current build's parser accepts before it
 * answers 431 itself. Its own default is 4 KiB, below what clients legitimately send (long bearer
 * tokens, many `anthropic-beta` values) and below the legacy build's limit; 16 KiB is Node's
 * default. It is also the most a half-sent head can hold per connection, so it stays small. An
 * operator may set UWS_HTTP_MAX_HEADERS_SIZE in the environment to choose another value; Weir's own
 * `limits.max_request_header_bytes` / `limits.max_url_length` apply on top, with JSON errors.
 */
export const PARSER_MAX_HEAD_BYTES = 16 * 1024

/**
 * The parser limit in effect for this process (the environment's value, or Weir's default). A test
 * seam: the security tests size an over-limit head with it; the parser itself never reports it.
 */
export function parserMaxHeadBytes (): number {
  const v = Number(process.env.UWS_HTTP_MAX_HEADERS_SIZE)
  return Number.isInteger(v) && v > 0 ? v : PARSER_MAX_HEAD_BYTES
}

/** Load (once) and return the uWebSockets.js build this thread runs; throws BootError if none is usable. */
export function loadUws (): UwsBuild {
  if (chosen !== undefined) return chosen
  // Read by the binary once, when the process first loads it: set it before the first require.
  // Worker threads see a copy of the environment, so the primary (main thread) loads uWS first.
  if (isMainThread && process.env.UWS_HTTP_MAX_HEADERS_SIZE === undefined) process.env.UWS_HTTP_MAX_HEADERS_SIZE = String(PARSER_MAX_HEAD_BYTES)
  const fallbackEnv = process.env.UWS_USE_FALLBACK
  if (fallbackEnv !== undefined && fallbackEnv !== '' && fallbackEnv !== '0') {
    throw new BootError(['UWS_USE_FALLBACK is set: Weir needs a native uWebSockets.js build; unset UWS_USE_FALLBACK'])
  }
  const require = createRequire(import.meta.url)
  let currentError: string
  try {
    const mod = require(CURRENT) as Record<string, unknown>
    if (!isNative(mod)) throw new Error('the package loaded without its native binary')
    chosen = { module: mod as unknown as Uws, ...packageInfo(require, CURRENT), legacy: false }
    return chosen
  } catch (err) {
    currentError = firstLine(err)
  }
  let legacyError: string
  try {
    const mod = require(LEGACY) as Record<string, unknown>
    if (!isNative(mod)) throw new Error(`it loaded its slow JavaScript fallback (no binary for ${process.platform}-${process.arch}, Node ABI ${process.versions.modules})`)
    chosen = { module: mod as unknown as Uws, ...packageInfo(require, LEGACY), legacy: true, reason: currentError }
    return chosen
  } catch (err) {
    legacyError = (err as { code?: string }).code === 'MODULE_NOT_FOUND' ? 'not installed' : firstLine(err)
  }
  throw new BootError([
    `uWebSockets.js: no native build loads on Node ${process.version} (${process.platform}-${process.arch}, glibc ${glibcVersion() ?? 'none'}).`,
    `  current build (${CURRENT}): ${currentError}`,
    `  legacy Node 20 build (${LEGACY}): ${legacyError}`,
    'Run Weir from its container image, or on Node 22/24 with glibc ≥ 2.38 (Debian 13, Ubuntu 24.04).',
  ])
}

/** Kept for callers that only need the check. */
export function assertNativeUws (): void { loadUws() }

/** "@pkg version (current|legacy Node 20 build)". */
export function describeUws (b: UwsBuild): string {
  return `${b.pkg} ${b.version} (${b.legacy ? 'legacy Node 20 build' : 'current build'})`
}

/** The one startup line for the fallback; undefined when the current build runs. */
export function uwsStartupLine (b: UwsBuild): string | undefined {
  if (!b.legacy) return undefined
  return `uWebSockets.js: running the legacy Node 20 build ${b.pkg} ${b.version} because the current build cannot load here ` +
    `(${b.reason ?? 'unknown'}; glibc ${glibcVersion() ?? 'none'}). Fine for development; production belongs on the Weir image ` +
    'or a newer host (Node 24, glibc ≥ 2.38) — see docs/operations.md.'
}
