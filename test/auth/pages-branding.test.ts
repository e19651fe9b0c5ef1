/**
 * The browser pages: readable primary buttons in both colour schemes (WCAG AA contrast computed
 * from the style sheet), `listen.branding` shown escaped with a CSP that allows only the logo, and
 * the branding keys' validation. (No browser here: the HTML and CSS are checked as text.)
 */
import t from 'tap'
import { PAGE_STYLE, accentStyle, contrast, devicePage, deviceHeaders, htmlPage, resultPage } from '../../lib/auth/pages.js'
import { parseConfig } from '../../lib/config/load.js'
import { BootError } from '../../lib/errors.js'

/** The declarations of the first rule for `selector` in `css` (a flat, minified style sheet). */
function rule (css: string, selector: string): Record<string, string> {
  const i = css.indexOf(`${selector}{`)
  if (i < 0) throw new Error(`no rule for ${selector}`)
  const body = css.slice(i + selector.length + 1, css.indexOf('}', i))
  return Object.fromEntries(body.split(';').map((d) => d.split(':')).filter((p) => p.length >= 2).map(([k, ...v]) => [k?.trim() as string, v.join(':').replace('!important', '').trim()]))
}
const colourIn = (v: string | undefined): string => /#[0-9a-f]{3,6}\b/i.exec(v ?? '')?.[0] as string

t.test('primary and secondary buttons meet 4.5:1 in light and dark schemes', async (t) => {
  const dark = PAGE_STYLE.slice(PAGE_STYLE.indexOf('@media (prefers-color-scheme:dark){'))
  const light = PAGE_STYLE.replace(/@media[^{]*\{([^{}]*\{[^}]*\})*\}/g, '')
  const lightCard = colourIn(rule(light, '.card').background)
  const darkCard = colourIn(rule(dark, '.card').background)
  const lb = rule(light, 'button')
  const db = rule(dark, 'button')
  t.ok(contrast(colourIn(lb.color), colourIn(lb.background)) >= 4.5, 'light: button text on button')
  t.ok(contrast(colourIn(lb.background), lightCard) >= 4.5, 'light: button on card')
  t.ok(contrast(colourIn(db.color), colourIn(db.background)) >= 4.5, 'dark: button text on button')
  t.ok(contrast(colourIn(db.background), darkCard) >= 4.5, `dark: button on card (${contrast(colourIn(db.background), darkCard).toFixed(2)})`)
  t.ok(contrast('#1d1d1b', '#1f1f1d') < 1.1, 'the old dark-mode button really was invisible')
  t.ok(contrast(colourIn(rule(dark, 'button.secondary').color), darkCard) >= 4.5, 'dark: secondary button text')
  t.ok(contrast(colourIn(rule(dark, '.muted').color), darkCard) >= 4.5, 'dark: muted text')
  t.ok(contrast(colourIn(rule(light, '.muted').color), lightCard) >= 4.5, 'light: muted text')
  t.ok(contrast(colourIn(rule(dark, '.error').color), darkCard) >= 4.5, 'dark: error text')
  t.ok(contrast(colourIn(rule(light, '.error').color), lightCard) >= 4.5, 'light: error text')
  t.equal(contrast('#ffffff', '#000000').toFixed(1), '21.0')
})

t.test('an accent colour gets the text colour that reads', async (t) => {
  for (const accent of ['#0b5fff', '#ffd400', '#e11', '#777777', '#2e7d32']) {
    const css = accentStyle(accent)
    const r = rule(css, 'button:not(.secondary)')
    t.equal(r.background, accent)
    t.ok(contrast(colourIn(r.color), accent) >= 4.5, `${accent}: ${r.color}`)
  }
  t.equal(accentStyle('red;}body{display:none'), '', 'only a hex colour is ever put in CSS')
})

t.test('branding is escaped, and the CSP allows only the logo', async (t) => {
  const brand = { organization_name: 'Acme <Labs> & "Co"', logo_url: 'https://cdn.acme.example/logo.png?a=1&b="x"', accent_color: '#0b5fff' }
  const html = devicePage({ brand })
  t.match(html, '<span>Acme &lt;Labs&gt; &amp; &quot;Co&quot;</span>')
  t.match(html, '<img src="https://cdn.acme.example/logo.png?a=1&amp;b=&quot;x&quot;" alt="Acme &lt;Labs&gt; &amp; &quot;Co&quot;">')
  t.match(html, '<title>Sign in · Acme &lt;Labs&gt; &amp; &quot;Co&quot;</title>')
  t.notMatch(html, /<Labs>/)
  t.match(html, 'button:not(.secondary){background:#0b5fff')
  t.match(deviceHeaders('https://idp.example', brand)['content-security-policy'], /; img-src https:\/\/cdn\.acme\.example$/)
  t.notMatch(deviceHeaders('https://idp.example')['content-security-policy'], /img-src/, 'no logo: no images at all')
  const dataLogo = resultPage('failed', 'why', { logo_url: 'data:image/png;base64,iVBORw0KGgo=' })
  t.match(dataLogo.headers['content-security-policy'], /; img-src data:$/)
  t.match(dataLogo.html, '<img src="data:image/png;base64,iVBORw0KGgo=" alt="Logo">')
  const ok = resultPage('signed_in', undefined, brand)
  t.match(ok.headers['content-security-policy'], /script-src 'nonce-[^']+'.*img-src https:\/\/cdn\.acme\.example/)
  t.notMatch(devicePage({}), /class="brand"/, 'no branding: no header')
  t.notMatch(devicePage({}), /<script/, 'no script on the device page')
})

t.test('every page has a viewport and a title', async (t) => {
  for (const html of [devicePage({}), devicePage({ code: 'ABCD-EFGH' }), resultPage('denied').html, htmlPage('Claude Code gateway', '<h1>x</h1>', { site: 'Weir' })]) {
    t.match(html, '<meta name="viewport" content="width=device-width,initial-scale=1">')
    t.match(html, /<title>[^<]+<\/title>/)
  }
})

t.test('listen.branding is validated', async (t) => {
  const yaml = (branding: string): string => `listen:
  host: 127.0.0.1
  branding: ${branding}
oidc: { issuer: https://idp.example.com, client_id: weir, client_secret: s }
session: { jwt_secret: a-secret-of-more-than-32-characters-long }
store: { postgres_url: postgres://weir@db.example.com/weir }
upstreams: [{ provider: anthropic, auth: { api_key: k } }]
`
  const ok = parseConfig(yaml('{ organization_name: Acme, logo_url: "https://acme.example/l.svg", accent_color: "#AbC" }'), 'g.yaml', {})
  t.same(ok.config.listen.branding, { organization_name: 'Acme', logo_url: 'https://acme.example/l.svg', accent_color: '#AbC' })
  const lines = (b: string): string[] => { try { parseConfig(yaml(b), 'g.yaml', {}) } catch (e) { if (e instanceof BootError) return [...e.lines]; throw e } return [] }
  t.match(lines('{ logo_url: "http://acme.example/l.png" }'), [/listen\.branding\.logo_url: must be an https:\/\/ URL or a data:image\/… URL/])
  t.match(lines('{ logo_url: "javascript:alert(1)" }'), [/logo_url: must be an https/])
  t.match(lines('{ logo_url: "data:text/html,<script>" }'), [/logo_url: must be an https/])
  t.match(lines('{ accent_color: "red" }'), [/listen\.branding\.accent_color: must be a hex colour/])
  t.match(lines('{ acent_color: "#fff" }'), [/unknown key; did you mean `listen\.branding\.accent_color`\?/])
})
