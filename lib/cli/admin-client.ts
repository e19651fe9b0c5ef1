/**
 * The HTTP side of `weir admin`: one request to a running gateway's admin API, with the key from
 * the environment, and how its failures become messages and exit codes.
 *
 *   WEIR_ADMIN_KEY   an `admin.write_keys` (or, for reading, `admin.read_keys`) key; sent as x-api-key
 *   WEIR_URL         the gateway's base URL (the `--url` flag wins)
 *
 * The key is never taken from a flag, so it stays out of shell history and `ps`. Responses are
 * parsed as JSON and handed back untouched: amounts stay the strings the API sent.
 */
import { UsageError } from './args.js'

/** Exit codes (sysexits.h where one fits). */
export const EXIT = {
  /** The gateway refused the request (4xx other than credentials), or nothing matched. */
  refused: 1,
  usage: 64,
  /** The gateway could not be reached, or answered 5xx / something that is not the admin API. */
  unavailable: 69,
  /** Missing or rejected credentials (401/403). */
  noPerm: 77,
} as const

/** A failure with the message to print and the exit code to return. */
export class AdminFailure extends Error {
  constructor (message: string, readonly exitCode: number) { super(message) }
}

export interface AdminTarget { readonly base: string, readonly key: string }

/** The gateway URL and key from `--url` and the environment, or a UsageError saying what to set. */
export function target (url: string | undefined, env: NodeJS.ProcessEnv): AdminTarget {
  const raw = url ?? env.WEIR_URL
  if (raw === undefined || raw === '') throw new UsageError('no gateway URL: pass --url https://weir.example.com or set WEIR_URL')
  let u: URL
  try { u = new URL(raw) } catch { throw new UsageError(`--url/WEIR_URL '${raw}' is not a URL (e.g. https://weir.example.com)`) }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new UsageError(`--url/WEIR_URL '${raw}' must be http:// or https://`)
  const key = env.WEIR_ADMIN_KEY
  if (key === undefined || key === '') throw new AdminFailure('WEIR_ADMIN_KEY is not set: export an admin key from gateway.yaml admin.write_keys (or admin.read_keys to only read)', EXIT.noPerm)
  return { base: u.href.replace(/\/+$/, ''), key }
}

/** Call `method path` (path from the root, with its query) and return the JSON body of a 200. */
export async function call (t: AdminTarget, method: string, path: string, body?: unknown): Promise<any> { // eslint-disable-line @typescript-eslint/no-explicit-any
  let res: Response
  try {
    res = await fetch(t.base + path, {
      method,
      headers: { 'x-api-key': t.key, accept: 'application/json', ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(30_000),
    })
  } catch (err) {
    const cause = (err as { cause?: { code?: string, message?: string } }).cause
    throw new AdminFailure(`cannot reach the gateway at ${t.base}: ${cause?.code ?? cause?.message ?? (err as Error).message}`, EXIT.unavailable)
  }
  const text = await res.text()
  let json: unknown
  try { json = JSON.parse(text) } catch {
    throw new AdminFailure(`${method} ${path}: the gateway answered ${res.status} with something that is not JSON (is ${t.base} a Weir gateway with admin: configured?)`, EXIT.unavailable)
  }
  if (res.status === 200) return json
  const e = (json as { error?: { type?: string, message?: string } }).error
  const what = e?.message ?? text.slice(0, 200)
  if (res.status === 401) throw new AdminFailure(`the gateway refused WEIR_ADMIN_KEY: ${what}`, EXIT.noPerm)
  if (res.status === 403) throw new AdminFailure(`${what} (WEIR_ADMIN_KEY is a read key; this needs a write key)`, EXIT.noPerm)
  if (res.status === 404 && what === 'not found') {
    throw new AdminFailure(`${method} ${path}: not found (is admin: configured on ${t.base}, and is it a Weir gateway recent enough for this command?)`, EXIT.unavailable)
  }
  if (res.status >= 500) throw new AdminFailure(`the gateway failed: ${res.status} ${what}`, EXIT.unavailable)
  throw new AdminFailure(what, EXIT.refused)
}

/** Left-aligned columns, two spaces apart. */
export function table (head: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)))
  const line = (r: readonly string[]): string => r.map((c, i) => i === r.length - 1 ? c : c.padEnd(w[i] ?? 0)).join('  ').trimEnd()
  return [line(head), ...rows.map(line)].join('\n') + '\n'
}
