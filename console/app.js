// The Weir operator console (browser side). Built by scripts/build-console.mjs into
// dist/console/ with content-hashed names; served by lib/console/routes.ts under a strict CSP
// (no inline script or style: every style lives in app.css, charts use uPlot's CSSOM styling).
import { h, render } from 'preact'
import { useEffect, useState, useCallback, useRef } from 'preact/hooks'
import htm from 'htm'
import uPlot from 'uplot'
import 'uplot/dist/uPlot.min.css'
import './app.css'

const html = htm.bind(h)
const PAGES = [
  ['overview', 'Overview'], ['caps', 'Caps'], ['people', 'People'],
  ['upstreams', 'Upstreams'], ['audit', 'Audit'], ['analytics', 'Claude Code'],
]
let csrf = ''

async function api (path, opts = {}) {
  const headers = { accept: 'application/json' }
  if (opts.body !== undefined) headers['content-type'] = 'application/json'
  if (opts.method && opts.method !== 'GET') headers['x-csrf-token'] = csrf
  const r = await fetch(`/console/api${path}`, { method: opts.method ?? 'GET', headers, body: opts.body === undefined ? undefined : JSON.stringify(opts.body), credentials: 'same-origin' })
  const j = await r.json().catch(() => ({}))
  if (!r.ok) { const e = new Error(j?.error?.message ?? `HTTP ${r.status}`); e.status = r.status; throw e }
  return j
}

const usd = (cents) => {
  const n = Number(cents ?? 0) / 100
  return n.toLocaleString(undefined, { style: 'currency', currency: 'USD', minimumFractionDigits: 2, maximumFractionDigits: n !== 0 && Math.abs(n) < 0.01 ? 4 : 2 })
}
const num = (n) => Number(n ?? 0).toLocaleString()
const when = (iso) => iso ? new Date(iso).toLocaleString() : '—'
const dayAgo = (d) => new Date(Date.now() - d * 86400000).toISOString().slice(0, 10)
const startDay = (days) => `${dayAgo(days - 1)}T00:00:00Z`

function useLoad (fn, deps) {
  const [st, set] = useState({ loading: true })
  const reload = useCallback(() => {
    set((s) => ({ ...s, loading: true }))
    fn().then((data) => set({ data }), (error) => set({ error }))
  }, deps)
  useEffect(reload, [reload])
  return [st, reload]
}

function Box ({ st, children }) {
  if (st.error) return html`<p class="error" role="alert">${st.error.message}</p>`
  if (st.data === undefined) return html`<p class="muted" aria-live="polite">Loading…</p>`
  return children(st.data)
}

function Chart ({ title, xs, series, money }) {
  const ref = useRef(null)
  useEffect(() => {
    if (!ref.current || xs.length === 0) return
    const dark = matchMedia('(prefers-color-scheme: dark)').matches
    const palette = ['#4f7cff', '#e8833a', '#2bb673', '#c855c8', '#e0b000', '#17a2b8', '#d9534f', '#8a8f98']
    const axis = { stroke: dark ? '#a9b0bb' : '#5b6472', grid: { stroke: dark ? '#2a2f38' : '#e6e8ec' }, ticks: { stroke: dark ? '#2a2f38' : '#e6e8ec' } }
    const width = Math.max(280, ref.current.clientWidth)
    const u = new uPlot({
      width, height: 240,
      scales: { x: { time: true } },
      axes: [axis, { ...axis, values: (_u, v) => v.map((x) => money ? usd(x) : num(x)), size: 70 }],
      series: [{}, ...series.map((s, i) => ({ label: s.label, stroke: palette[i % palette.length], width: 2, points: { show: true }, value: (_u, v) => v == null ? '—' : money ? usd(v) : num(v) }))],
    }, [xs, ...series.map((s) => s.values)], ref.current)
    const ro = new ResizeObserver(() => u.setSize({ width: Math.max(280, ref.current?.clientWidth ?? width), height: 240 }))
    ro.observe(ref.current)
    return () => { ro.disconnect(); u.destroy() }
  }, [xs, series])
  return html`<figure class="chart"><figcaption>${title}</figcaption>${xs.length === 0 ? html`<p class="muted">No data yet.</p>` : html`<div ref=${ref}></div>`}</figure>`
}

/** Turn a report page (buckets of results) into chart series keyed by `key(result)`. */
function toSeries (buckets, key, value) {
  const xs = buckets.map((b) => Date.parse(b.starting_at) / 1000)
  const names = new Set()
  for (const b of buckets) for (const r of b.results) names.add(key(r) ?? '(none)')
  const series = [...names].slice(0, 8).map((n) => ({ label: n, values: buckets.map((b) => b.results.filter((r) => (key(r) ?? '(none)') === n).reduce((a, r) => a + value(r), 0)) }))
  return { xs, series }
}
const tokensOf = (r) => (r.uncached_input_tokens ?? 0) + (r.output_tokens ?? 0) + (r.cache_read_input_tokens ?? 0) + (r.cache_creation?.ephemeral_5m_input_tokens ?? 0) + (r.cache_creation?.ephemeral_1h_input_tokens ?? 0)
const DIM_FIELD = { model: 'model', idp_group: 'idp_group', upstream: 'upstream' }

function Overview () {
  const [dim, setDim] = useState('model')
  const [ov] = useLoad(() => api('/overview'), [])
  const [charts] = useLoad(async () => {
    const q = `?starting_at=${startDay(14)}&bucket_width=1d&limit=14&group_by[]=`
    // The cost report has no model grouping of its own: by description, each result names its model.
    const [cost, usage] = await Promise.all([api(`/cost${q}${dim === 'model' ? 'description' : dim}`), api(`/usage${q}${dim}`)])
    const f = DIM_FIELD[dim]
    return { spend: toSeries(cost.data, (r) => r[f], (r) => Number(r.amount)), tokens: toSeries(usage.data, (r) => r[f], tokensOf) }
  }, [dim])
  const [users] = useLoad(() => api('/spend_report?by=user&period=monthly&limit=5'), [])
  const [groups] = useLoad(() => api('/spend_report?by=group&period=monthly&limit=5'), [])
  return html`
    <${Box} st=${ov}>${(o) => html`
      <section class="cards" aria-label="Spend this period">
        ${o.periods.map((p) => {
          const cap = p.organization_cap === null ? null : Number(p.organization_cap)
          const pct = cap ? Math.min(100, Math.round(Number(p.spend) / cap * 100)) : null
          return html`<article class="card">
            <h2>${{ daily: 'Today', weekly: 'This week', monthly: 'This month' }[p.period]}</h2>
            <p class="big">${usd(p.spend)}</p>
            <p class="muted">${num(p.people)} ${p.people === 1 ? 'person' : 'people'} · ${p.bucket}</p>
            ${cap === null ? html`<p class="muted">No organization cap</p>` : html`
              <div class="meter" role="meter" aria-label="Share of the organization cap" aria-valuemin="0" aria-valuemax="100" aria-valuenow=${pct}><span class=${`fill w${Math.round(pct / 5) * 5}${pct >= 95 ? ' hot' : pct >= 75 ? ' warm' : ''}`}></span></div>
              <p class="muted">${pct}% of ${usd(cap)} organization cap</p>`}
          </article>`
        })}
        <article class="card">
          <h2>Refused at a cap</h2>
          <p class="big">${num(o.refusals.spend_limit ?? 0)}</p>
          <p class="muted">requests since ${when(o.refusals_since)}</p>
        </article>
      </section>`}<//>
    <section aria-labelledby="trend">
      <div class="row"><h2 id="trend">Last 14 days</h2>
        <label class="inline">Group by <select value=${dim} onChange=${(e) => setDim(e.currentTarget.value)}>
          <option value="model">Model</option><option value="idp_group">Group</option><option value="upstream">Upstream</option></select></label></div>
      <${Box} st=${charts}>${(c) => html`<div class="grid2">
        <${Chart} title="Spend per day" xs=${c.spend.xs} series=${c.spend.series} money=${true} />
        <${Chart} title="Tokens per day" xs=${c.tokens.xs} series=${c.tokens.series} />
      </div>`}<//>
    </section>
    <div class="grid2">
      <section aria-labelledby="tu"><h2 id="tu">Top people this month</h2>
        <${Box} st=${users}>${(r) => html`<${Table} caption="Top people by spend this month" cols=${['Person', 'Spend']} rows=${r.data.map((x) => [x.email ?? x.key, usd(x.spend)])} empty="No spend this month." />`}<//></section>
      <section aria-labelledby="tg"><h2 id="tg">Top groups this month</h2>
        <${Box} st=${groups}>${(r) => html`<${Table} caption="Top groups by spend this month" cols=${['Group', 'Spend']} rows=${r.data.map((x) => [x.key, usd(x.spend)])} empty="No spend this month." />`}<//></section>
    </div>`
}

function Table ({ caption, cols, rows, empty }) {
  if (rows.length === 0) return html`<p class="muted">${empty}</p>`
  return html`<div class="tablewrap"><table><caption class="sr">${caption}</caption>
    <thead><tr>${cols.map((c) => html`<th scope="col">${c}</th>`)}</tr></thead>
    <tbody>${rows.map((r) => html`<tr>${r.map((c, i) => i === 0 ? html`<th scope="row">${c}</th>` : html`<td>${c}</td>`)}</tr>`)}</tbody></table></div>`
}

function Caps ({ me }) {
  const [list, reload] = useLoad(() => api('/caps?limit=100'), [])
  const ro = me.role !== 'admin'
  const [form, setForm] = useState({ type: 'organization', who: '', amount: '', period: 'monthly' })
  const [msg, setMsg] = useState(null)
  const [eff, setEff] = useState(null)
  const [effUser, setEffUser] = useState('')
  const save = async (e) => {
    e.preventDefault()
    const scope = form.type === 'organization' ? { type: 'organization' } : form.type === 'rbac_group' ? { type: 'rbac_group', rbac_group_id: form.who } : (form.who.includes('@') ? { type: 'user', email: form.who } : { type: 'user', user_id: form.who })
    try {
      await api('/caps', { method: 'POST', body: { scope, amount: String(Math.round(Number(form.amount) * 100)), period: form.period } })
      setMsg({ ok: true, text: 'Cap saved.' }); reload()
    } catch (err) { setMsg({ ok: false, text: err.message }) }
  }
  const del = async (id) => {
    if (!confirm('Delete this cap?')) return
    try { await api(`/caps/${encodeURIComponent(id)}`, { method: 'DELETE' }); setMsg({ ok: true, text: 'Cap deleted.' }); reload() } catch (err) { setMsg({ ok: false, text: err.message }) }
  }
  const effective = async (e) => {
    e.preventDefault()
    try {
      let id = effUser
      if (id.includes('@')) { const p = await api(`/principals?email=${encodeURIComponent(id)}`); id = p.data[0]?.user_id ?? id }
      setEff(await api(`/caps/effective?user_ids[]=${encodeURIComponent(id)}&period[]=daily&period[]=weekly&period[]=monthly`))
    } catch (err) { setEff({ error: err.message }) }
  }
  const scopeText = (s) => s.type === 'organization' ? 'Organization' : s.type === 'rbac_group' ? `Group ${s.group_id ?? s.rbac_group_id ?? ''}` : `User ${s.user_id}`
  return html`
    <section aria-labelledby="caps"><h2 id="caps">Spend caps</h2>
      ${msg && html`<p class=${msg.ok ? 'ok' : 'error'} role="status">${msg.text}</p>`}
      <${Box} st=${list}>${(l) => html`<${Table} caption="Spend caps" cols=${['Scope', 'Period', 'Cap', 'Updated', '']} empty="No caps yet."
        rows=${l.data.map((c) => [scopeText(c.scope), c.period, usd(c.amount), when(c.updated_at),
          ro ? html`<span class="muted">read-only</span>` : html`<button class="danger small" onClick=${() => del(c.id)} aria-label=${`Delete ${scopeText(c.scope)} ${c.period} cap`}>Delete</button>`])} />`}<//>
    </section>
    ${ro ? html`<p class="note">You are a read-only administrator: you can see caps but not change them.</p>` : html`
    <section aria-labelledby="newcap"><h2 id="newcap">Create or change a cap</h2>
      <form class="form" onSubmit=${save}>
        <label>Applies to <select value=${form.type} onChange=${(e) => setForm({ ...form, type: e.currentTarget.value })}>
          <option value="organization">Organization</option><option value="rbac_group">Group</option><option value="user">Person</option></select></label>
        ${form.type !== 'organization' && html`<label>${form.type === 'user' ? 'Email or subject' : 'Group name'} <input required value=${form.who} onInput=${(e) => setForm({ ...form, who: e.currentTarget.value })} /></label>`}
        <label>Period <select value=${form.period} onChange=${(e) => setForm({ ...form, period: e.currentTarget.value })}><option>daily</option><option>weekly</option><option>monthly</option></select></label>
        <label>Amount (USD) <input required type="number" min="0" step="0.01" inputmode="decimal" value=${form.amount} onInput=${(e) => setForm({ ...form, amount: e.currentTarget.value })} /></label>
        <button type="submit">Save cap</button>
      </form></section>`}
    <section aria-labelledby="eff"><h2 id="eff">Effective caps for a person</h2>
      <form class="form" onSubmit=${effective}>
        <label>Email or subject <input required value=${effUser} onInput=${(e) => setEffUser(e.currentTarget.value)} /></label>
        <button type="submit">Show</button></form>
      ${eff && (eff.error ? html`<p class="error">${eff.error}</p>` : html`<${Table} caption="Effective caps" cols=${['Period', 'Cap', 'Spent', 'From']} empty="No cap applies."
        rows=${(eff.data ?? []).map((x) => [x.period, x.amount === null ? 'none' : usd(x.amount), usd(x.spend ?? x.period_to_date_spend ?? 0), x.source ? scopeText(x.source) : '—'])} />`)}
    </section>`
}

function People ({ me }) {
  const [q, setQ] = useState('')
  const [cursor, setCursor] = useState([])
  const [list, reload] = useLoad(() => api(`/people?limit=25${q ? `&q=${encodeURIComponent(q)}` : ''}${cursor.length ? `&before=${encodeURIComponent(cursor.at(-1))}` : ''}`), [q, cursor])
  const [msg, setMsg] = useState(null)
  const [pv, setPv] = useState({ email: '', groups: '' })
  const [preview, setPreview] = useState(null)
  const signOut = async (p) => {
    if (!confirm(`Sign ${p.email ?? p.user_id} out everywhere?`)) return
    try { const r = await api('/sign_out', { method: 'POST', body: { user_id: p.user_id } }); setMsg({ ok: true, text: `Signed out ${p.email ?? p.user_id}: ${r.sign_ins_ended} sign-in(s) ended.` }); reload() } catch (err) { setMsg({ ok: false, text: err.message }) }
  }
  return html`
    <section aria-labelledby="ppl"><h2 id="ppl">People</h2>
      <form class="form" role="search" onSubmit=${(e) => { e.preventDefault(); setCursor([]); setQ(e.currentTarget.elements.q.value) }}>
        <label>Search email or subject <input name="q" type="search" /></label><button type="submit">Search</button></form>
      ${msg && html`<p class=${msg.ok ? 'ok' : 'error'} role="status">${msg.text}</p>`}
      <${Box} st=${list}>${(l) => html`
        <${Table} caption="People Weir has seen" cols=${['Person', 'Groups', 'Last seen', '']} empty="Nobody matches."
          rows=${l.data.map((p) => [html`${p.email ?? p.user_id}<br /><span class="muted small">${p.user_id}</span>`, p.groups.join(', ') || '—', when(p.last_seen_at),
            me.role === 'admin' ? html`<button class="danger small" onClick=${() => signOut(p)} aria-label=${`Sign ${p.email ?? p.user_id} out everywhere`}>Sign out everywhere</button>` : html`<span class="muted">read-only</span>`])} />
        <nav class="pager" aria-label="Pages">
          <button disabled=${cursor.length === 0} onClick=${() => setCursor(cursor.slice(0, -1))}>Newer</button>
          <button disabled=${!l.has_more} onClick=${() => setCursor([...cursor, l.next])}>Older</button></nav>`}<//>
    </section>
    <section aria-labelledby="pv"><h2 id="pv">Policy preview</h2>
      <p class="muted">The managed settings a person with this email and these groups would receive.</p>
      <form class="form" onSubmit=${async (e) => { e.preventDefault(); setPreview(await api(`/preview?email=${encodeURIComponent(pv.email)}&groups=${encodeURIComponent(pv.groups)}`).catch((err) => ({ message: err.message }))) }}>
        <label>Email <input type="email" value=${pv.email} onInput=${(e) => setPv({ ...pv, email: e.currentTarget.value })} /></label>
        <label>Groups (comma-separated) <input value=${pv.groups} onInput=${(e) => setPv({ ...pv, groups: e.currentTarget.value })} /></label>
        <button type="submit">Preview</button></form>
      ${preview && html`<div class="preview">${preview.policy ? html`<p>Policy #${preview.policy.index} · checksum <code>${preview.policy.checksum.slice(0, 12)}</code></p><pre>${JSON.stringify(preview.settings, null, 2)}</pre>` : html`<p class="muted">${preview.message}</p>`}</div>`}
    </section>`
}

function Upstreams () {
  const [st, reload] = useLoad(() => api('/upstreams'), [])
  useEffect(() => { const t = setInterval(reload, 10000); return () => clearInterval(t) }, [reload])
  const ms = (v) => v === null ? '—' : `≤ ${num(v)} ms`
  return html`<section aria-labelledby="up"><h2 id="up">Upstreams</h2>
    <${Box} st=${st}>${(u) => {
      const fig = new Map(u.upstreams.map((x) => [x.upstream, x]))
      const pool = new Map(u.pools.map((p) => [p.upstream, p]))
      return html`<p class="muted">Counts since ${when(u.since)}; latency is the upper bound of the histogram bucket. Pool state is this worker's.</p>
      <${Table} caption="Upstream health" cols=${['Upstream', 'State', 'Attempts', 'OK', '429', '5xx', 'No answer', 'Failed over', 'p50', 'p95', 'p99']} empty="No upstreams configured."
        rows=${u.configured.map((c) => { const f = fig.get(c.name) ?? {}; const p = pool.get(c.name)
          const state = p ? p.state : (f.attempts && f.failover_worthy / f.attempts > 0.5 ? 'failing' : 'healthy')
          return [html`${c.name}<br /><span class="muted small">${c.provider}</span>`, html`<span class=${`pill ${state}`}>${state}${p && p.cooldownMs > 0 ? ` · ${Math.ceil(p.cooldownMs / 1000)} s` : ''}</span>`,
            num(f.attempts), num(f.ok), num(f.rate_limited), num(f.server_errors), num(f.no_response), num(f.failover_worthy), ms(f.p50_ms ?? null), ms(f.p95_ms ?? null), ms(f.p99_ms ?? null)] })} />`
    }}<//></section>`
}

function Audit () {
  const [f, setF] = useState({ actor: '', action: '', target: '' })
  const [cursor, setCursor] = useState([])
  const qs = new URLSearchParams({ limit: '25', ...Object.fromEntries(Object.entries(f).filter(([, v]) => v)), ...(cursor.length ? { before_id: cursor.at(-1) } : {}) })
  const [st] = useLoad(() => api(`/audit?${qs}`), [qs.toString()])
  const submit = (e) => { e.preventDefault(); const el = e.currentTarget.elements; setCursor([]); setF({ actor: el.actor.value, action: el.action.value, target: el.target.value }) }
  return html`<section aria-labelledby="au"><h2 id="au">Audit trail</h2>
    <form class="form" onSubmit=${submit}>
      <label>Actor <input name="actor" placeholder="oidc:… or admin-key:…" /></label>
      <label>Action <select name="action"><option value="">Any</option>${(st.data?.actions ?? []).map((a) => html`<option>${a}</option>`)}</select></label>
      <label>Target contains <input name="target" /></label><button type="submit">Filter</button></form>
    <${Box} st=${st}>${(a) => html`
      <${Table} caption="Audit events" cols=${['When', 'Actor', 'Action', 'Target', 'Change']} empty="No events match."
        rows=${a.data.map((e) => [when(e.created_at), e.actor, e.action, e.target_id, html`<details><summary>Details</summary><pre>${JSON.stringify({ before: e.before, after: e.after }, null, 2)}</pre></details>`])} />
      <nav class="pager" aria-label="Pages"><button disabled=${cursor.length === 0} onClick=${() => setCursor(cursor.slice(0, -1))}>Newer</button>
        <button disabled=${!a.has_more} onClick=${() => setCursor([...cursor, a.data.at(-1).id])}>Older</button></nav>`}<//></section>`
}

function Analytics () {
  const [day, setDay] = useState(dayAgo(0))
  const [st] = useLoad(() => api(`/claude_code?starting_at=${day}&limit=100`), [day])
  const [trend] = useLoad(async () => {
    const days = [6, 5, 4, 3, 2, 1, 0].map(dayAgo)
    const pages = await Promise.all(days.map((d) => api(`/claude_code?starting_at=${d}&limit=1000`)))
    const sum = (p, f) => p.data.reduce((a, r) => a + f(r), 0)
    return { xs: days.map((d) => Date.parse(`${d}T00:00:00Z`) / 1000), series: [
      { label: 'Sessions', values: pages.map((p) => sum(p, (r) => r.core_metrics?.num_sessions ?? 0)) },
      { label: 'Lines added', values: pages.map((p) => sum(p, (r) => r.core_metrics?.lines_of_code?.added ?? 0)) },
      { label: 'Lines removed', values: pages.map((p) => sum(p, (r) => r.core_metrics?.lines_of_code?.removed ?? 0)) },
      { label: 'Commits', values: pages.map((p) => sum(p, (r) => r.core_metrics?.commits_by_claude_code ?? 0)) }] }
  }, [])
  const tools = (r) => Object.values(r.tool_actions ?? {}).reduce((a, t) => [a[0] + (t.accepted ?? 0), a[1] + (t.rejected ?? 0)], [0, 0])
  const cost = (r) => (r.model_breakdown ?? []).reduce((a, m) => a + Number(m.estimated_cost?.amount ?? 0), 0)
  return html`<section aria-labelledby="cc"><h2 id="cc">Claude Code analytics</h2>
    <${Box} st=${trend}>${(t) => html`<${Chart} title="Last 7 days" xs=${t.xs} series=${t.series} />`}<//>
    <div class="row"><h3>Per person</h3><label class="inline">Day <input type="date" value=${day} onChange=${(e) => setDay(e.currentTarget.value)} /></label></div>
    <${Box} st=${st}>${(d) => html`<${Table} caption="Claude Code activity per person" empty="No Claude Code activity that day."
      cols=${['Person', 'Sessions', 'Lines +', 'Lines −', 'Commits', 'PRs', 'Edits accepted', 'Edits rejected', 'Est. cost']}
      rows=${d.data.map((r) => { const [acc, rej] = tools(r); return [r.actor?.email_address ?? r.actor?.api_key_name ?? '—', num(r.core_metrics?.num_sessions), num(r.core_metrics?.lines_of_code?.added), num(r.core_metrics?.lines_of_code?.removed), num(r.core_metrics?.commits_by_claude_code), num(r.core_metrics?.pull_requests_by_claude_code), num(acc), num(rej), usd(cost(r))] })} />`}<//>
  </section>`
}

function SignIn ({ error }) {
  return html`<main id="main" class="message" tabindex="-1"><p class="brand">Weir</p><h1>Operator console</h1>
    <p>${error ?? 'Sign in with your organization account to see spend, caps, people and upstreams.'}</p>
    <p><a class="button" href="/console/login">Sign in</a></p></main>`
}

function App () {
  const [me, setMe] = useState(undefined)
  const [page, setPage] = useState(() => location.pathname.replace(/^\/console\/?/, '') || 'overview')
  useEffect(() => { api('/session').then((s) => { csrf = s.csrf_token; setMe(s) }, (e) => setMe({ error: e })) }, [])
  useEffect(() => { const f = () => setPage(location.pathname.replace(/^\/console\/?/, '') || 'overview'); addEventListener('popstate', f); return () => removeEventListener('popstate', f) }, [])
  const go = (e, p) => { e.preventDefault(); history.pushState(null, '', `/console/${p}`); setPage(p); document.getElementById('main')?.focus() }
  if (me === undefined) return html`<p class="muted center">Loading…</p>`
  if (me.error) return html`<${SignIn} error=${me.error.status === 401 ? undefined : me.error.message} />`
  const title = PAGES.find(([p]) => p === page)?.[1] ?? 'Overview'
  document.title = `${title} · Weir console`
  const logout = async () => { await fetch('/console/logout', { method: 'POST', headers: { 'x-csrf-token': csrf }, credentials: 'same-origin' }).catch(() => {}); location.href = '/console/' }
  const Page = { overview: Overview, caps: Caps, people: People, upstreams: Upstreams, audit: Audit, analytics: Analytics }[page] ?? Overview
  return html`<header class="top">
      <a class="brand" href="/console/overview" onClick=${(e) => go(e, 'overview')}>Weir <span>console</span></a>
      <nav aria-label="Console pages"><ul>${PAGES.map(([p, t]) => html`<li><a href=${`/console/${p}`} aria-current=${p === page ? 'page' : undefined} onClick=${(e) => go(e, p)}>${t}</a></li>`)}</ul></nav>
      <div class="who"><span title=${me.user.groups.join(', ')}>${me.user.email ?? me.user.user_id}</span>${me.role === 'read_only' && html`<span class="pill">read-only</span>`}
        <button class="ghost small" onClick=${logout}>Sign out</button></div>
    </header>
    <main id="main" tabindex="-1"><h1>${title}</h1><${Page} me=${me} /></main>
    <footer class="muted small">Weir ${me.version}</footer>`
}

render(html`<${App} />`, document.getElementById('app'))
