// The Weir operator console (browser side): the shell, navigation between the pages and the
// session. Bundled by scripts/build-console.mjs into dist/console/ with content-hashed names and
// served by lib/console/routes.ts under a strict CSP (no inline script or style: every style
// lives in app.css, charts use uPlot's CSSOM styling). Type-checked on its own with
// lib/console/ui/tsconfig.json (DOM types; the server build never compiles these files).
import { render, type VNode } from 'preact'
import { useEffect, useState } from 'preact/hooks'
import 'uplot/dist/uPlot.min.css'
import './app.css'
import { api, ApiError, csrfToken, type Json, setCsrf } from './api.js'
import { Analytics } from './analytics.js'
import { Audit } from './audit.js'
import { Caps } from './caps.js'
import { Overview } from './overview.js'
import { People } from './people.js'
import { Upstreams } from './upstreams.js'
import { html } from './widgets.js'

const PAGES: Array<[string, string]> = [
  ['overview', 'Overview'], ['caps', 'Caps'], ['people', 'People'],
  ['upstreams', 'Upstreams'], ['audit', 'Audit'], ['analytics', 'Claude Code'],
]
const VIEWS: Record<string, (p: { me: Json }) => VNode> = { overview: Overview, caps: Caps, people: People, upstreams: Upstreams, audit: Audit, analytics: Analytics }
const pageOf = (): string => location.pathname.replace(/^\/console\/?/, '') || 'overview'

function SignIn ({ error }: { error?: string }): VNode {
  return html`<main id="main" class="message" tabindex="-1"><p class="brand">Weir</p><h1>Operator console</h1>
    <p>${error ?? 'Sign in with your organization account to see spend, caps, people and upstreams.'}</p>
    <p><a class="button" href="/console/login">Sign in</a></p></main>` as VNode
}

function App (): VNode {
  const [me, setMe] = useState<Json>(undefined)
  const [page, setPage] = useState(pageOf)
  useEffect(() => { api('/session').then((s: Json) => { setCsrf(s.csrf_token); setMe(s) }, (e: Error) => setMe({ error: e })) }, [])
  useEffect(() => { const f = (): void => setPage(pageOf()); addEventListener('popstate', f); return () => removeEventListener('popstate', f) }, [])
  const go = (e: Event, p: string): void => { e.preventDefault(); history.pushState(null, '', `/console/${p}`); setPage(p); document.getElementById('main')?.focus() }
  if (me === undefined) return html`<p class="muted center">Loading…</p>` as VNode
  if (me.error !== undefined) return html`<${SignIn} error=${me.error instanceof ApiError && me.error.status === 401 ? undefined : me.error.message} />` as VNode
  const title = PAGES.find(([p]) => p === page)?.[1] ?? 'Overview'
  document.title = `${title} · Weir console`
  const logout = async (): Promise<void> => {
    await fetch('/console/logout', { method: 'POST', headers: { 'x-csrf-token': csrfToken() }, credentials: 'same-origin' }).catch(() => {})
    location.href = '/console/'
  }
  const Page = VIEWS[page] ?? Overview
  return html`<header class="top">
      <a class="brand" href="/console/overview" onClick=${(e: Event) => go(e, 'overview')}>Weir <span>console</span></a>
      <nav aria-label="Console pages"><ul>${PAGES.map(([p, t]) => html`<li><a href=${`/console/${p}`} aria-current=${p === page ? 'page' : undefined} onClick=${(e: Event) => go(e, p)}>${t}</a></li>`)}</ul></nav>
      <div class="who"><span title=${me.user.groups.join(', ')}>${me.user.email ?? me.user.user_id}</span>${me.role === 'read_only' && html`<span class="pill">read-only</span>`}
        <button class="ghost small" onClick=${() => { void logout() }}>Sign out</button></div>
    </header>
    <main id="main" tabindex="-1"><h1>${title}</h1><${Page} me=${me} /></main>
    <footer class="muted small">Weir ${me.version}</footer>` as VNode
}

render(html`<${App} />`, document.getElementById('app') as HTMLElement)
