// The console's one way to the server: same-origin fetches to /console/api with the session
// cookie (sent by the browser, never readable here) and, on every change, the CSRF token the
// session answer carried. No admin key exists on this side.

/** A JSON answer: the report and console endpoints' shapes are read field by field where used. */
export type Json = any // eslint-disable-line @typescript-eslint/no-explicit-any

export class ApiError extends Error {
  constructor (message: string, readonly status: number) { super(message) }
}

let csrf = ''
export function setCsrf (token: string): void { csrf = token }
export function csrfToken (): string { return csrf }

export async function api (path: string, opts: { method?: string, body?: unknown } = {}): Promise<Json> {
  const method = opts.method ?? 'GET'
  const headers: Record<string, string> = { accept: 'application/json' }
  if (opts.body !== undefined) headers['content-type'] = 'application/json'
  if (method !== 'GET') headers['x-csrf-token'] = csrf
  const r = await fetch(`/console/api${path}`, { method, headers, body: opts.body === undefined ? undefined : JSON.stringify(opts.body), credentials: 'same-origin' })
  const j: Json = await r.json().catch(() => ({}))
  if (!r.ok) throw new ApiError(j?.error?.message ?? `HTTP ${r.status}`, r.status)
  return j
}
