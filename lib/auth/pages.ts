/**
 * The browser pages of the device flow: code entry, code confirmation, and the outcome pages shown
 * after the identity provider sends the browser back.
 *
 * No page runs script except the success page, whose one nonce'd line closes the tab after a
 * moment. Forms post only to this origin (`form-action 'self'`, plus the IdP origins the /device
 * POST redirects to). A pre-filled code is shown for confirmation and never submitted on its own
 * (RFC 8628 §5.4): the person must press the button after comparing it with their terminal.
 * Every dynamic value is HTML-escaped.
 *
 * `listen.branding` (Weir extension) adds the organization's name and logo above each heading and
 * colours the primary button; the logo's origin (or `data:`) is the only image source the CSP
 * allows. Colours meet WCAG AA (4.5:1) for text in both light and dark schemes; an accent colour
 * gets black or white text, whichever contrasts more.
 */
import { randomBytes } from 'node:crypto'
import { escapeHtml, htmlHeaders, type Headers } from '../http/respond.js'

/** `listen.branding` (all optional). */
export interface Branding {
  organization_name?: string | undefined
  logo_url?: string | undefined
  accent_color?: string | undefined
}

const STYLE = `body{font:16px/1.5 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;min-height:100vh;display:flex;align-items:center;justify-content:center;background:#f6f6f4;color:#1d1d1b}
@media (prefers-color-scheme:dark){body{background:#151514;color:#ecebe6}.card{background:#1f1f1d!important;border-color:#33332f!important}.muted{color:#aaa9a1!important}button{background:#ecebe6;border-color:#ecebe6;color:#151514}button.secondary{color:#ecebe6;border-color:#6b6a64}.error{color:#ff8a80!important}.notice{border-color:#33332f!important}code{background:#2a2a27!important}a{color:#9cc3ff!important}}
.card{max-width:26rem;width:100%;margin:1.5rem;padding:2rem;background:#fff;border:1px solid #e2e1dc;border-radius:12px;text-align:center}
h1{font-size:1.45rem;font-weight:600;margin:0 0 .6rem}.muted{color:#5d5c57;margin:0 0 1.2rem}
.code,input[name=user_code]{display:block;width:100%;box-sizing:border-box;font:600 1.6rem/1 ui-monospace,Menlo,Consolas,monospace;letter-spacing:.2em;text-align:center;padding:.8rem;margin:0 0 1rem;border:1px solid #b9b8b1;border-radius:8px;background:transparent;color:inherit}
input[name=user_code]{text-transform:uppercase}
button{display:block;width:100%;font:inherit;padding:.7rem;border-radius:8px;cursor:pointer;margin-top:.5rem;border:1px solid #1d1d1b;background:#1d1d1b;color:#fff}
button.secondary{background:transparent;color:inherit;border-color:#b9b8b1}
.error{color:#b3261e;margin:1rem 0 0}.notice{margin-top:1.5rem;padding-top:1rem;border-top:1px solid #e2e1dc;font-size:.9rem;text-align:left;white-space:pre-wrap;overflow-wrap:anywhere}
.detail{margin-top:1rem;font:.85rem/1.4 ui-monospace,Menlo,Consolas,monospace;text-align:left;overflow-wrap:anywhere}
.brand{display:flex;align-items:center;justify-content:center;gap:.6rem;margin:0 0 1.2rem;font-weight:600}.brand img{max-height:48px;max-width:12rem}
a{color:#0b57d0}code{background:#efeee9;padding:0 .25rem;border-radius:4px}dl{text-align:left;margin:1.2rem 0 0}dt{font-weight:600}dd{margin:0 0 .6rem}`

/** The page style sheet (exported for the contrast test). */
export const PAGE_STYLE = STYLE

/** Relative luminance of `#rgb`/`#rrggbb` (WCAG 2.x). */
export function luminance (hex: string): number {
  const h = hex.replace('#', '')
  const full = h.length === 3 ? [...h].map((c) => c + c).join('') : h
  const [r, g, b] = [0, 2, 4].map((i) => parseInt(full.slice(i, i + 2), 16) / 255).map((c) => c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4) as [number, number, number]
  return 0.2126 * r + 0.7152 * g + 0.0722 * b
}

/** WCAG contrast ratio of two hex colours (1 to 21). */
export function contrast (a: string, b: string): number {
  const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x) as [number, number]
  return (hi + 0.05) / (lo + 0.05)
}

/** Extra CSS for an accent colour: the button in that colour, with black or white text. */
export function accentStyle (accent: string | undefined): string {
  if (accent === undefined || !/^#([0-9a-f]{3}|[0-9a-f]{6})$/i.test(accent)) return ''
  const text = contrast(accent, '#000000') >= contrast(accent, '#ffffff') ? '#000000' : '#ffffff'
  return `button:not(.secondary){background:${accent};border-color:${accent};color:${text}}`
}

/** The CSP `img-src` source the logo needs ('' without a logo). */
export function logoSource (b: Branding | undefined): string {
  const url = b?.logo_url
  if (url === undefined) return ''
  if (url.startsWith('data:')) return 'data:'
  try { return new URL(url).origin } catch { return '' }
}

/** A CSP with `img-src` for the logo added (when there is one). */
export function withLogo (csp: string, b: Branding | undefined): string {
  const src = logoSource(b)
  return src === '' ? csp : `${csp}; img-src ${src}`
}

function brandHeader (b: Branding | undefined): string {
  if (b?.organization_name === undefined && b?.logo_url === undefined) return ''
  const img = b.logo_url === undefined ? '' : `<img src="${escapeHtml(b.logo_url)}" alt="${escapeHtml(b.organization_name ?? 'Logo')}">`
  const name = b.organization_name === undefined ? '' : `<span>${escapeHtml(b.organization_name)}</span>`
  return `<div class="brand">${img}${name}</div>`
}

/** A complete page in the house style: title, viewport, no script unless a nonce is given. */
export function htmlPage (title: string, inner: string, opts: { brand?: Branding | undefined, scriptNonce?: string | undefined, site?: string } = {}): string {
  const script = opts.scriptNonce === undefined ? '' : `<script nonce="${opts.scriptNonce}">setTimeout(function(){window.close()},1500)</script>`
  const site = opts.brand?.organization_name ?? opts.site ?? 'Claude Code'
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">` +
    `<meta name="referrer" content="no-referrer"><title>${escapeHtml(title)} · ${escapeHtml(site)}</title><style>${STYLE}${accentStyle(opts.brand?.accent_color)}</style></head>` +
    `<body><main class="card">${brandHeader(opts.brand)}${inner}</main>${script}</body></html>`
}

/** Headers for the /device pages: no caching, strict CSP, forms to 'self' and the IdP, the logo's origin. */
export function deviceHeaders (formActionOrigins: string, brand?: Branding): Headers {
  return htmlHeaders(withLogo(`default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; form-action 'self' ${formActionOrigins}; base-uri 'none'`, brand))
}

export interface DevicePageOptions {
  /** A code from the verification link, shown for confirmation. */
  code?: string | undefined
  /** Why the last attempt did not go through. */
  error?: string | undefined
  /** `login_notice` and the host it is from. */
  notice?: { text: string, host: string } | undefined
  /** `listen.branding`. */
  brand?: Branding | undefined
}

/** Code entry (no code) or confirmation (with one) page. */
export function devicePage (o: DevicePageOptions): string {
  const page = (title: string, inner: string): string => htmlPage(title, inner, { brand: o.brand })
  const err = o.error === undefined ? '' : `<p class="error" role="alert">${escapeHtml(o.error)}</p>`
  const notice = o.notice === undefined ? '' : `<aside class="notice"><strong>Notice from ${escapeHtml(o.notice.host)}</strong><br>${escapeHtml(o.notice.text)}</aside>`
  if (o.code !== undefined && o.code !== '') {
    const code = escapeHtml(o.code)
    return page('Confirm sign-in', `<h1>Is this your code?</h1>` +
      `<p class="muted">Claude Code is asking to sign in. Continue only if the code below is the one on your screen. If you did not start a sign-in, deny it.</p>` +
      `<form method="post" action="/device"><div class="code">${code}</div><input type="hidden" name="user_code" value="${code}">` +
      `<button type="submit">Yes, it matches: continue</button>` +
      `<button type="submit" class="secondary" formaction="/device/deny">Deny</button></form>${err}${notice}`)
  }
  return page('Sign in', `<h1>Enter your code</h1>` +
    `<p class="muted">Type the code Claude Code shows in your terminal. You will then sign in with your organization's identity provider.</p>` +
    `<form method="post" action="/device"><input name="user_code" aria-label="Code" placeholder="XXXX-XXXX" maxlength="9" autocomplete="off" autocapitalize="characters" spellcheck="false" required autofocus>` +
    `<button type="submit">Continue</button></form>${err}${notice}`)
}

/** An outcome page: its HTML and headers (the success page gets a nonce for its close script). */
export function resultPage (kind: 'signed_in' | 'failed' | 'denied' | 'not_waiting', detail?: string, brand?: Branding): { html: string, headers: Headers } {
  const page = (title: string, inner: string, scriptNonce?: string): string => htmlPage(title, inner, { brand, scriptNonce })
  const d = detail === undefined ? '' : `<div class="detail">${escapeHtml(detail)}</div>`
  const plain = (title: string, body: string): { html: string, headers: Headers } =>
    ({ html: page(title, `<h1>${title}</h1><p class="muted">${body}</p>${d}`), headers: htmlHeaders(withLogo("default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; form-action 'none'; base-uri 'none'", brand)) })
  switch (kind) {
    case 'signed_in': {
      const nonce = randomBytes(16).toString('base64url')
      return {
        html: page('Signed in', `<h1>You are signed in</h1><p class="muted">Go back to your terminal; Claude Code picks up the sign-in within a few seconds. This tab can be closed.</p>`, nonce),
        headers: htmlHeaders(withLogo(`default-src 'none'; style-src 'unsafe-inline'; script-src 'nonce-${nonce}'; frame-ancestors 'none'; form-action 'none'; base-uri 'none'`, brand)),
      }
    }
    case 'failed': return plain('Sign-in did not complete', 'Close this tab and start the sign-in again from Claude Code. If it keeps failing, send the message below to your administrator.')
    case 'denied': return plain('Sign-in stopped', 'Nothing was granted and the code no longer works. If you did not start this sign-in, tell your administrator.')
    case 'not_waiting': return plain('Nothing to approve', 'This code is not waiting for approval: it may have expired, or been approved or stopped already.')
  }
}
