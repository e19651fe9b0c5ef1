/**
 * `weir client-settings --url <gateway URL>`: the client roll-out helper.
 *
 * Claude Code only offers gateway sign-in when a machine-level managed settings file names the
 * gateway (`forceLoginMethod: "gateway"` plus `forceLoginGatewayUrl`); there is no picker entry a
 * developer could choose by hand. This command prints that file for the operator's MDM or config
 * management tool:
 *
 * - stdout carries only the JSON document, so `weir client-settings --url … > managed-settings.json`
 *   writes a clean file;
 * - stderr carries the per-OS install locations and roll-out notes, for the human running it.
 *
 * The URL is checked the way the client will treat it: an absolute `https://` URL (plain `http://`
 * only for a loopback host, which is useful for trying things out on one machine), no credentials,
 * query or fragment. One trailing slash is dropped so the value matches `listen.public_url`, which
 * Weir normalises the same way.
 *
 * Exit codes follow sysexits(3): 0 on success (and for `--help`), 64 (EX_USAGE) for any bad flag or
 * URL.
 */
import { writeSync } from 'node:fs'
import { isIP } from 'node:net'
import { parseFlags, UsageError } from './args.js'

/** sysexits(3) EX_USAGE: the command was used incorrectly. */
export const EX_USAGE = 64

/** Where each operating system's Claude Code reads machine-level managed settings. */
export const MANAGED_SETTINGS_PATHS: ReadonlyArray<{ readonly os: string, readonly path: string }> = Object.freeze([
  { os: 'macOS', path: '/Library/Application Support/ClaudeCode/managed-settings.json' },
  { os: 'Linux/WSL', path: '/etc/claude-code/managed-settings.json' },
  { os: 'Windows', path: 'C:\\Program Files\\ClaudeCode\\managed-settings.json' },
])

/** The two managed keys that send `/login` straight to a gateway. */
export interface GatewayManagedSettings {
  forceLoginMethod: 'gateway'
  forceLoginGatewayUrl: string
}

/** Output sinks; tests pass their own, the CLI writes synchronously to fds 1 and 2. */
export interface ClientSettingsIO {
  stdout: (text: string) => void
  stderr: (text: string) => void
}

const USAGE = `Usage: weir client-settings --url <gateway-url>

Prints the managed-settings.json that points Claude Code's /login at this gateway.
The JSON goes to stdout; where to install it on each OS goes to stderr.

Options:
  --url <url>   the gateway's public URL, as in listen.public_url
                (https://, or http:// for a loopback host only)
  -h, --help    show this help

Example:
  weir client-settings --url https://gw.internal.example.com > managed-settings.json
`

/** Thrown by {@link normalizeGatewayUrl} for a URL Claude Code would not accept as a gateway. */
export class GatewayUrlError extends Error {
  override readonly name = 'GatewayUrlError'
}

const isLoopbackHost = (hostname: string): boolean => {
  const host = hostname.startsWith('[') && hostname.endsWith(']') ? hostname.slice(1, -1) : hostname
  if (host.toLowerCase() === 'localhost') return true
  if (isIP(host) === 4) return host.split('.')[0] === '127'
  if (isIP(host) === 6) return host === '::1'
  return false
}

/**
 * Validate and normalise a gateway URL.
 *
 * @param raw - what the operator typed, e.g. `https://gw.internal.example.com/`
 * @returns the URL without its trailing slash, host lower-cased, e.g. `https://gw.internal.example.com`
 * @throws {@link GatewayUrlError} when the URL is not absolute, not https (http is allowed for a
 *   loopback host only), or carries credentials, a query or a fragment.
 * @example
 * normalizeGatewayUrl('https://GW.corp.example/') // 'https://gw.corp.example'
 */
export function normalizeGatewayUrl (raw: string): string {
  const text = raw.trim()
  if (text === '') throw new GatewayUrlError('--url is empty')
  let url: URL
  try {
    url = new URL(text)
  } catch {
    throw new GatewayUrlError(`--url is not an absolute URL: ${text}`)
  }
  if (url.protocol === 'http:') {
    if (!isLoopbackHost(url.hostname)) {
      throw new GatewayUrlError(`--url must use https:// (plain http:// is accepted only for localhost, 127.0.0.0/8 or [::1]): ${text}`)
    }
  } else if (url.protocol !== 'https:') {
    throw new GatewayUrlError(`--url must be an https:// URL, got scheme ${url.protocol.replace(/:$/, '')}`)
  }
  if (url.hostname === '') throw new GatewayUrlError(`--url has no host: ${text}`)
  if (url.username !== '' || url.password !== '') throw new GatewayUrlError('--url must not contain a user name or password')
  if (url.search !== '' || url.hash !== '') throw new GatewayUrlError('--url must not contain a query string or fragment')
  const path = url.pathname.endsWith('/') ? url.pathname.slice(0, -1) : url.pathname
  return url.origin + path
}

/**
 * The managed-settings document for one gateway.
 *
 * @param url - an already-normalised gateway URL (see {@link normalizeGatewayUrl})
 * @example
 * buildManagedSettings('https://gw.corp.example')
 * // { forceLoginMethod: 'gateway', forceLoginGatewayUrl: 'https://gw.corp.example' }
 */
export function buildManagedSettings (url: string): GatewayManagedSettings {
  return { forceLoginMethod: 'gateway', forceLoginGatewayUrl: url }
}

function installNotes (): string {
  const width = Math.max(...MANAGED_SETTINGS_PATHS.map((p) => p.os.length)) + 2
  const rows = MANAGED_SETTINGS_PATHS.map((p) => `  ${(p.os + ':').padEnd(width)}${p.path}`).join('\n')
  return `Install the JSON from stdout as the managed settings file on every developer machine:
${rows}
Deliver it with your MDM or configuration management, owned by an administrator and not writable by
the developer. If a managed-settings.json already exists at that path, merge these two keys into it
rather than replacing it. Claude Code reads the file at start-up; /login then opens the gateway
sign-in screen directly.
`
}

const defaultIO: ClientSettingsIO = {
  stdout: (text) => { writeSync(1, text) },
  stderr: (text) => { writeSync(2, text) },
}

/**
 * Run `weir client-settings`.
 *
 * @param argv - the arguments after the subcommand name, e.g. `['--url', 'https://gw.corp.example']`
 * @param io - output sinks; defaults to synchronous writes on stdout/stderr
 * @returns the process exit code: 0, or 64 (EX_USAGE) for an unknown flag, a missing or bad URL
 * @example
 * process.exitCode = await runClientSettings(process.argv.slice(3))
 */
export async function runClientSettings (argv: string[], io: ClientSettingsIO = defaultIO): Promise<number> {
  let values: Record<string, string | boolean | undefined>
  try {
    ({ values } = parseFlags(argv, { url: { type: 'string' } }, false))
  } catch (err) {
    /* c8 ignore next -- parseFlags only throws UsageError */
    if (!(err instanceof UsageError)) throw err
    io.stderr(`weir client-settings: ${err.message}\n\n${USAGE}`)
    return EX_USAGE
  }
  if (values.help === true) {
    io.stdout(USAGE)
    return 0
  }
  if (typeof values.url !== 'string') {
    io.stderr(`weir client-settings: --url is required\n\n${USAGE}`)
    return EX_USAGE
  }
  let url: string
  try {
    url = normalizeGatewayUrl(values.url)
  } catch (err) {
    /* c8 ignore next -- normalizeGatewayUrl only throws GatewayUrlError; anything else is a bug worth seeing */
    if (!(err instanceof GatewayUrlError)) throw err
    io.stderr(`weir client-settings: ${err.message}\n`)
    return EX_USAGE
  }
  io.stdout(JSON.stringify(buildManagedSettings(url), null, 2) + '\n')
  io.stderr(installNotes())
  return 0
}
