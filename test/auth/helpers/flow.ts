/**
 * Drive a device-flow sign-in over real HTTP, the way the Claude Code CLI and a browser do.
 *
 * The CLI side: POST /oauth/device_authorization (`surface=claude_code`, a `claude-code/<v>`
 * user agent), then POST /oauth/token with the device grant. The browser side: GET the
 * verification link, POST /device from the page (same-origin headers, as a browser sends them),
 * then follow every redirect through the identity provider, keeping cookies per origin, until it
 * lands back on the gateway's /oauth/callback. Hooks let a test tamper with each step.
 */
import { request } from 'undici'

export const CLI_UA = 'claude-code/2.1.328 (external, cli)'
export const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code'

export interface HttpRes { status: number, headers: Record<string, string>, cookies: string[], text: string, json: () => any } // eslint-disable-line @typescript-eslint/no-explicit-any

/** One request, nothing followed. */
export async function http (url: string, o: { method?: string, headers?: Record<string, string>, form?: Record<string, string> | string } = {}): Promise<HttpRes> {
  const headers: Record<string, string> = { ...o.headers }
  let body: string | undefined
  if (o.form !== undefined) {
    body = typeof o.form === 'string' ? o.form : new URLSearchParams(o.form).toString()
    headers['content-type'] ??= 'application/x-www-form-urlencoded'
  }
  const r = await request(url, { method: (o.method ?? (body === undefined ? 'GET' : 'POST')) as 'GET', headers, body })
  const text = await r.body.text()
  const out: Record<string, string> = {}
  let cookies: string[] = []
  for (const [k, v] of Object.entries(r.headers)) {
    if (k === 'set-cookie') cookies = Array.isArray(v) ? v : [String(v)]
    out[k] = Array.isArray(v) ? v.join(', ') : String(v)
  }
  return { status: r.statusCode, headers: out, cookies, text, json: () => JSON.parse(text) }
}

/** A minimal browser: cookies per origin and path, redirects followed on request. */
export class Browser {
  private readonly jar = new Map<string, Map<string, { value: string, path: string }>>()

  cookieHeader (url: URL): string {
    const c = this.jar.get(url.origin)
    if (c === undefined) return ''
    return [...c.entries()].filter(([, v]) => url.pathname.startsWith(v.path)).map(([k, v]) => `${k}=${v.value}`).join('; ')
  }

  cookie (origin: string, name: string): string | undefined { return this.jar.get(origin)?.get(name)?.value }
  setCookie (origin: string, name: string, value: string): void {
    const c = this.jar.get(origin) ?? new Map()
    c.set(name, { value, path: '/' })
    this.jar.set(origin, c)
  }

  dropCookies (origin: string): void { this.jar.delete(origin) }

  private store (url: URL, setCookies: string[]): void {
    const c = this.jar.get(url.origin) ?? new Map<string, { value: string, path: string }>()
    for (const line of setCookies) {
      const [pair = '', ...attrs] = line.split(';').map((x) => x.trim())
      const eq = pair.indexOf('=')
      const name = pair.slice(0, eq)
      const value = pair.slice(eq + 1)
      const path = attrs.find((a) => a.toLowerCase().startsWith('path='))?.slice(5) ?? '/'
      const gone = attrs.some((a) => /^max-age=0$/i.test(a)) || attrs.some((a) => /^expires=/i.test(a) && Date.parse(a.slice(8)) < Date.now())
      if (gone) c.delete(name)
      else c.set(name, { value, path })
    }
    this.jar.set(url.origin, c)
  }

  async go (url: string, o: { method?: string, headers?: Record<string, string>, form?: Record<string, string> } = {}): Promise<HttpRes> {
    const u = new URL(url)
    const cookie = this.cookieHeader(u)
    const res = await http(url, { ...o, headers: { ...(cookie !== '' ? { cookie } : {}), ...o.headers } })
    this.store(u, res.cookies)
    return res
  }

  /** Follow redirects from `res` (GET) while `until` says to keep going; returns the last response and its URL. */
  async follow (from: string, res: HttpRes, until: (next: URL) => boolean, max = 20): Promise<{ url: string, res: HttpRes }> {
    let url = from
    let cur = res
    for (let i = 0; i < max && cur.status >= 300 && cur.status < 400 && cur.headers.location !== undefined; i++) {
      const next = new URL(cur.headers.location, url)
      if (!until(next)) return { url: next.toString(), res: cur }
      url = next.toString()
      cur = await this.go(url)
    }
    return { url, res: cur }
  }
}

export interface DeviceAuthorization {
  device_code: string
  user_code: string
  verification_uri: string
  verification_uri_complete: string
  expires_in: number
  interval: number
  login_notice?: string
}

/** The CLI's first call. */
export async function deviceAuthorize (base: string, headers: Record<string, string> = {}): Promise<HttpRes> {
  return await http(`${base}/oauth/device_authorization`, { headers: { 'user-agent': CLI_UA, ...headers }, form: { surface: 'claude_code' } })
}

/** The CLI's poll. */
export async function poll (base: string, deviceCode: string): Promise<HttpRes> {
  return await http(`${base}/oauth/token`, { headers: { 'user-agent': CLI_UA }, form: { grant_type: DEVICE_GRANT, device_code: deviceCode } })
}

/** The CLI's refresh. */
export async function refresh (base: string, refreshToken: string): Promise<HttpRes> {
  return await http(`${base}/oauth/token`, { headers: { 'user-agent': CLI_UA }, form: { grant_type: 'refresh_token', refresh_token: refreshToken } })
}

/** Headers a browser sends with a form POST from a page of `base`. */
export const sameOrigin = (base: string): Record<string, string> => ({ origin: base, 'sec-fetch-site': 'same-origin', referer: `${base}/device` })

export interface BrowserOptions {
  browser?: Browser
  /** Change the IdP authorization URL before the browser follows it (nonce, code_challenge…). */
  tamper?: (authorize: URL) => void
  /** Called when the browser is about to load the callback; may change it. */
  beforeCallback?: (callback: URL, browser: Browser) => void
  /**
   * The gateway's `listen.public_url` when it differs from `base` (a gateway behind a proxy): the
   * IdP sends the browser there, and the test delivers that request to `base`.
   */
  publicUrl?: string
}

/**
 * The browser part for an issued code: open the link, confirm, sign in at the IdP, land on the
 * callback. Returns the callback response (or the last response when the flow stopped earlier).
 */
export async function approve (base: string, da: DeviceAuthorization, o: BrowserOptions = {}): Promise<{ page: HttpRes, confirm: HttpRes, callbackUrl?: string }> {
  const b = o.browser ?? new Browser()
  const page = await b.go(da.verification_uri_complete)
  const code = /name="user_code" value="([^"]+)"/.exec(page.text)?.[1] ?? da.user_code
  const confirm = await b.go(`${base}/device`, { headers: sameOrigin(base), form: { user_code: code } })
  if (confirm.status !== 302) return { page: confirm, confirm }
  const authorize = new URL(confirm.headers.location as string)
  o.tamper?.(authorize)
  const landing = new URL(o.publicUrl ?? base).origin
  const first = await b.go(authorize.toString())
  const walked = await b.follow(authorize.toString(), first, (next) => next.origin !== landing)
  if (walked.res.status < 300 || walked.res.status >= 400) return { page: walked.res, confirm }
  const cb = new URL(walked.url)
  if (o.publicUrl !== undefined) { const local = new URL(base); cb.protocol = local.protocol; cb.host = local.host }
  o.beforeCallback?.(cb, b)
  return { page: await b.go(cb.toString()), confirm, callbackUrl: cb.toString() }
}

/** Device authorization, browser approval and the first successful poll. */
export async function signIn (base: string, o: BrowserOptions = {}): Promise<{ da: DeviceAuthorization, page: HttpRes, token: HttpRes }> {
  const r = await deviceAuthorize(base)
  if (r.status !== 200) throw new Error(`device authorization answered ${r.status}: ${r.text}`)
  const da = r.json() as DeviceAuthorization
  const { page } = await approve(base, da, o)
  return { da, page, token: await poll(base, da.device_code) }
}

/** Poll `fn` until it returns a truthy value or `ms` pass. */
export async function eventually<T> (fn: () => Promise<T> | T, ms = 5000, step = 50): Promise<T> {
  const end = Date.now() + ms
  for (;;) {
    const v = await fn()
    if (v || Date.now() > end) return v
    await new Promise((resolve) => setTimeout(resolve, step))
  }
}
