// Upstreams: per-upstream attempts by outcome, failovers and latency percentiles (kept by the
// primary since it started), and, for pooled upstreams, this worker's health view (cooldowns).
// Refreshed every ten seconds.
import type { VNode } from 'preact'
import { useEffect } from 'preact/hooks'
import { api, type Json } from './api.js'
import { num, when } from './format.js'
import { Box, html, Table, useLoad } from './widgets.js'

const ms = (v: number | null | undefined): string => v === null || v === undefined ? '—' : `≤ ${num(v)} ms`

function row (c: Json, f: Json, p: Json): unknown[] {
  const state = p !== undefined ? p.state : (f.attempts > 0 && f.failover_worthy / f.attempts > 0.5 ? 'failing' : 'healthy')
  return [html`${c.name}<br /><span class="muted small">${c.provider}</span>`,
    html`<span class=${`pill ${state}`}>${state}${p !== undefined && p.cooldownMs > 0 ? ` · ${Math.ceil(p.cooldownMs / 1000)} s` : ''}</span>`,
    num(f.attempts), num(f.ok), num(f.rate_limited), num(f.server_errors), num(f.no_response), num(f.failover_worthy), ms(f.p50_ms), ms(f.p95_ms), ms(f.p99_ms)]
}

export function Upstreams (): VNode {
  const [st, reload] = useLoad(async () => await api('/upstreams'), [])
  useEffect(() => { const t = setInterval(reload, 10000); return () => clearInterval(t) }, [reload])
  return html`<section aria-labelledby="up"><h2 id="up">Upstreams</h2>
    <${Box} st=${st}>${(u: Json) => {
      const fig = new Map<string, Json>(u.upstreams.map((x: Json) => [x.upstream, x]))
      const pool = new Map<string, Json>(u.pools.map((p: Json) => [p.upstream, p]))
      return html`<p class="muted">Counts since ${when(u.since)}; latency is the upper bound of the histogram bucket. Pool state is this worker's.</p>
      <${Table} caption="Upstream health" cols=${['Upstream', 'State', 'Attempts', 'OK', '429', '5xx', 'No answer', 'Failed over', 'p50', 'p95', 'p99']} empty="No upstreams configured."
        rows=${u.configured.map((c: Json) => row(c, fig.get(c.name) ?? {}, pool.get(c.name)))} />`
    }}<//></section>` as VNode
}
