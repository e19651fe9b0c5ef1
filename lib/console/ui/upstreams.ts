// Upstreams: per-upstream attempts by outcome, failovers and latency percentiles (kept by the
// primary since it started), and, for pooled upstreams, this worker's health view (cooldowns).
// Below it, one table per configured pool (`pools_report`, summed over every worker by the
// primary): each member's configured vs actual share, cooldowns, failed probes, workers keeping
// it out now and prompt-cache hit ratio. A ratio the server sends as null (nothing to divide yet)
// shows as a dash. Refreshed every ten seconds.
import type { VNode } from 'preact'
import { useEffect } from 'preact/hooks'
import { api, type Json } from './api.js'
import { num, when } from './format.js'
import { Box, html, Table, useLoad } from './widgets.js'

const pct = (v: number | null | undefined): string => v === null || v === undefined ? '—' : v.toLocaleString(undefined, { style: 'percent', maximumFractionDigits: 1 })
const ms = (v: number | null | undefined): string => v === null || v === undefined ? '—' : `≤ ${num(v)} ms`

function row (c: Json, f: Json, p: Json): unknown[] {
  const state = p !== undefined ? p.state : (f.attempts > 0 && f.failover_worthy / f.attempts > 0.5 ? 'failing' : 'healthy')
  return [html`${c.name}<br /><span class="muted small">${c.provider}</span>`,
    html`<span class=${`pill ${state}`}>${state}${p !== undefined && p.cooldownMs > 0 ? ` · ${Math.ceil(p.cooldownMs / 1000)} s` : ''}</span>`,
    num(f.attempts), num(f.ok), num(f.rate_limited), num(f.server_errors), num(f.no_response), num(f.failover_worthy), ms(f.p50_ms), ms(f.p95_ms), ms(f.p99_ms)]
}

const POOL_COLS = ['Member', 'Weight', 'Configured share', 'Actual share', 'Requests', 'Cooldowns', 'Failed probes', 'Workers keeping it out', 'Cache-hit ratio']

function Pools ({ pools }: { pools: Json[] }): VNode {
  if (pools.length === 0) return html`<p class="muted">No upstream pools are configured.</p>` as VNode
  return html`<h3>Pools</h3>
    <p class="muted">Shares count client requests; the cache-hit ratio is cache reads over all input tokens (plain, cache reads and cache writes). Counted by this gateway over all its workers since it started.</p>
    ${pools.map((p: Json) => html`<section aria-label=${`Pool ${p.name}`} class="pool"><h4>Pool ${p.name}</h4>
      <${Table} caption=${`Pool ${p.name}: members`} cols=${POOL_COLS} empty="This pool has no members."
        rows=${p.members.map((m: Json) => [m.upstream, num(m.weight), pct(m.configured_share), pct(m.share), num(m.requests), num(m.cooldowns), num(m.probe_failures),
          html`<span class=${m.workers_out > 0 ? 'pill cooling' : ''}>${num(m.workers_out)}</span>`, pct(m.cache_hit_ratio)])} /></section>`)}` as VNode
}

export function Upstreams (): VNode {
  const [st, reload] = useLoad(async () => await api('/upstreams'), [])
  useEffect(() => { const t = setInterval(reload, 10000); return () => clearInterval(t) }, [reload])
  return html`<section aria-labelledby="up"><h2 id="up">Upstreams</h2>
    <${Box} st=${st}>${(u: Json) => {
      const fig = new Map<string, Json>(u.upstreams.map((x: Json) => [x.upstream, x]))
      const pool = new Map<string, Json>(u.pools.map((p: Json) => [p.upstream, p]))
      return html`<p class="muted">Counts since ${when(u.since)}; latency is the upper bound of the histogram bucket. The State column is this worker's view of its pools.</p>
      <${Table} caption="Upstream health" cols=${['Upstream', 'State', 'Attempts', 'OK', '429', '5xx', 'No answer', 'Failed over', 'p50', 'p95', 'p99']} empty="No upstreams configured."
        rows=${u.configured.map((c: Json) => row(c, fig.get(c.name) ?? {}, pool.get(c.name)))} />
      <${Pools} pools=${u.pools_report ?? []} />`
    }}<//></section>` as VNode
}
