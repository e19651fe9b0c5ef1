// Overview: spend today / this week / this month against the organization caps, refusals at a
// cap, spend and tokens per day for 14 days by model, group or upstream, top people and groups.
import type { VNode } from 'preact'
import { useState } from 'preact/hooks'
import { api, type Json } from './api.js'
import { num, startDay, usd, when } from './format.js'
import { Box, Chart, html, inputValue, Table, toSeries, useLoad } from './widgets.js'

const tokensOf = (r: Json): number => (r.uncached_input_tokens ?? 0) + (r.output_tokens ?? 0) + (r.cache_read_input_tokens ?? 0) +
  (r.cache_creation?.ephemeral_5m_input_tokens ?? 0) + (r.cache_creation?.ephemeral_1h_input_tokens ?? 0)
const DIM_FIELD: Record<string, string> = { model: 'model', idp_group: 'idp_group', upstream: 'upstream' }
const PERIOD_TITLE: Record<string, string> = { daily: 'Today', weekly: 'This week', monthly: 'This month' }

function PeriodCard ({ p }: { p: Json }): VNode {
  const cap = p.organization_cap === null ? null : Number(p.organization_cap)
  const pct = cap !== null && cap > 0 ? Math.min(100, Math.round(Number(p.spend) / cap * 100)) : null
  return html`<article class="card">
    <h2>${PERIOD_TITLE[p.period]}</h2>
    <p class="big">${usd(p.spend)}</p>
    <p class="muted">${num(p.people)} ${p.people === 1 ? 'person' : 'people'} · ${p.bucket}</p>
    ${cap === null || pct === null
      ? html`<p class="muted">No organization cap</p>`
      : html`<div class="meter" role="meter" aria-label="Share of the organization cap" aria-valuemin="0" aria-valuemax="100" aria-valuenow=${pct}><span class=${`fill w${Math.round(pct / 5) * 5}${pct >= 95 ? ' hot' : pct >= 75 ? ' warm' : ''}`}></span></div>
        <p class="muted">${pct}% of ${usd(cap)} organization cap</p>`}
  </article>` as VNode
}

export function Overview (): VNode {
  const [dim, setDim] = useState('model')
  const [ov] = useLoad(async () => await api('/overview'), [])
  const [charts] = useLoad(async () => {
    const q = `?starting_at=${startDay(14)}&bucket_width=1d&limit=14&group_by[]=`
    // The cost report has no model grouping of its own: by description, each result names its model.
    const [cost, usage] = await Promise.all([api(`/cost${q}${dim === 'model' ? 'description' : dim}`), api(`/usage${q}${dim}`)])
    const f = DIM_FIELD[dim] as string
    return { spend: toSeries(cost.data, (r) => r[f], (r) => Number(r.amount)), tokens: toSeries(usage.data, (r) => r[f], tokensOf) }
  }, [dim])
  const [users] = useLoad(async () => await api('/spend_report?by=user&period=monthly&limit=5'), [])
  const [groups] = useLoad(async () => await api('/spend_report?by=group&period=monthly&limit=5'), [])
  return html`
    <${Box} st=${ov}>${(o: Json) => html`
      <section class="cards" aria-label="Spend this period">
        ${o.periods.map((p: Json) => html`<${PeriodCard} p=${p} />`)}
        <article class="card">
          <h2>Refused at a cap</h2>
          <p class="big">${num(o.refusals.spend_limit ?? 0)}</p>
          <p class="muted">requests since ${when(o.refusals_since)}</p>
        </article>
      </section>`}<//>
    <section aria-labelledby="trend">
      <div class="row"><h2 id="trend">Last 14 days</h2>
        <label class="inline">Group by <select value=${dim} onChange=${(e: Event) => setDim(inputValue(e))}>
          <option value="model">Model</option><option value="idp_group">Group</option><option value="upstream">Upstream</option></select></label></div>
      <${Box} st=${charts}>${(c: Json) => html`<div class="grid2">
        <${Chart} title="Spend per day" xs=${c.spend.xs} series=${c.spend.series} money=${true} />
        <${Chart} title="Tokens per day" xs=${c.tokens.xs} series=${c.tokens.series} />
      </div>`}<//>
    </section>
    <div class="grid2">
      <section aria-labelledby="tu"><h2 id="tu">Top people this month</h2>
        <${Box} st=${users}>${(r: Json) => html`<${Table} caption="Top people by spend this month" cols=${['Person', 'Spend']} rows=${r.data.map((x: Json) => [x.email ?? x.key, usd(x.spend)])} empty="No spend this month." />`}<//></section>
      <section aria-labelledby="tg"><h2 id="tg">Top groups this month</h2>
        <${Box} st=${groups}>${(r: Json) => html`<${Table} caption="Top groups by spend this month" cols=${['Group', 'Spend']} rows=${r.data.map((x: Json) => [x.key, usd(x.spend)])} empty="No spend this month." />`}<//></section>
    </div>` as VNode
}
