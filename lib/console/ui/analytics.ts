// Claude Code analytics: organization totals per day over a chosen range (one request to
// /console/api/analytics, summed in Postgres: the browser never walks every developer's record),
// as cards and charts, and below them one day's activity per person, 50 people a page
// (the claude_code report's own paging, next/previous).
import type { VNode } from 'preact'
import { useState } from 'preact/hooks'
import { api, type Json } from './api.js'
import { dayAgo, num, usd } from './format.js'
import { Box, Chart, html, inputValue, Table, useLoad } from './widgets.js'

const PAGE = 50
const RANGES = [7, 30, 90] as const

const tools = (r: Json): [number, number] => (Object.values(r.tool_actions ?? {}) as Json[]).reduce<[number, number]>((a, t) => [a[0] + (t.accepted ?? 0), a[1] + (t.rejected ?? 0)], [0, 0])
// Display only: one person's cost over their models, formatted and never sent back.
const cost = (r: Json): number => ((r.model_breakdown ?? []) as Json[]).reduce((a: number, m) => a + Number(m.estimated_cost?.amount ?? 0), 0)

function personRow (r: Json): unknown[] {
  const [acc, rej] = tools(r)
  const m = r.core_metrics ?? {}
  return [r.actor?.email_address ?? r.actor?.api_key_name ?? '—', num(m.num_sessions), num(m.lines_of_code?.added), num(m.lines_of_code?.removed),
    num(m.commits_by_claude_code), num(m.pull_requests_by_claude_code), num(acc), num(rej), usd(cost(r))]
}

function Card ({ title, value, sub }: { title: string, value: string, sub?: string }): VNode {
  return html`<article class="card"><h2>${title}</h2><p class="big">${value}</p>${sub !== undefined && html`<p class="muted">${sub}</p>`}</article>` as VNode
}

function Totals ({ t, days }: { t: Json, days: number }): VNode {
  const acc = Number(t.tool_actions.accepted)
  const decided = acc + Number(t.tool_actions.rejected)
  const tokens = Number(t.tokens.input) + Number(t.tokens.output) + Number(t.tokens.cache_read) + Number(t.tokens.cache_creation)
  return html`<section class="cards" aria-label=${`Totals over the last ${days} days`}>
    <${Card} title="People" value=${num(t.people)} sub=${`${num(t.num_sessions)} sessions`} />
    <${Card} title="Lines added" value=${num(t.lines_of_code.added)} sub=${`${num(t.lines_of_code.removed)} removed`} />
    <${Card} title="Commits" value=${num(t.commits_by_claude_code)} sub=${`${num(t.pull_requests_by_claude_code)} pull requests`} />
    <${Card} title="Edits accepted" value=${num(acc)} sub=${decided > 0 ? `${Math.round(acc / decided * 100)}% of ${num(decided)} decisions` : 'no decisions'} />
    <${Card} title="Estimated cost" value=${usd(t.estimated_cost.amount)} sub=${`${num(tokens)} tokens`} />
  </section>` as VNode
}

function Charts ({ d }: { d: Json }): VNode {
  const days = d.data as Json[]
  const xs = days.map((x) => Date.parse(x.date) / 1000)
  const s = (label: string, f: (x: Json) => unknown): { label: string, values: number[] } => ({ label, values: days.map((x) => Number(f(x))) })
  return html`<div class="grid2 wide">
    <${Chart} title="Activity per day" xs=${xs} series=${[s('People', (x) => x.people), s('Sessions', (x) => x.num_sessions), s('Commits', (x) => x.commits_by_claude_code), s('Pull requests', (x) => x.pull_requests_by_claude_code)]} />
    <${Chart} title="Lines of code per day" xs=${xs} series=${[s('Added', (x) => x.lines_of_code.added), s('Removed', (x) => x.lines_of_code.removed)]} />
    <${Chart} title="Edit decisions per day" xs=${xs} series=${[s('Accepted', (x) => x.tool_actions.accepted), s('Rejected', (x) => x.tool_actions.rejected)]} />
    <${Chart} title="Estimated cost per day" xs=${xs} series=${[s('Estimated cost', (x) => x.estimated_cost.amount)]} money=${true} />
  </div>` as VNode
}

export function Analytics (): VNode {
  const [range, setRange] = useState<number>(7)
  const [day, setDay] = useState(dayAgo(0))
  const [cursor, setCursor] = useState<string[]>([])
  const [totals] = useLoad(async () => await api(`/analytics?starting_at=${dayAgo(range - 1)}`), [range])
  const page = cursor.length > 0 ? `&page=${encodeURIComponent(cursor[cursor.length - 1] as string)}` : ''
  const [st] = useLoad(async () => await api(`/claude_code?starting_at=${day}&limit=${PAGE}${page}`), [day, cursor])
  return html`<section aria-labelledby="cc"><div class="row"><h2 id="cc">Claude Code analytics</h2>
      <label class="inline">Range <select value=${String(range)} onChange=${(e: Event) => setRange(Number(inputValue(e)))}>
        ${RANGES.map((n) => html`<option value=${String(n)}>Last ${n} days</option>`)}</select></label></div>
    <${Box} st=${totals}>${(d: Json) => html`<${Totals} t=${d.total} days=${range} /><${Charts} d=${d} />`}<//>
    <div class="row"><h3>Per person</h3><label class="inline">Day <input type="date" value=${day} onChange=${(e: Event) => { setCursor([]); setDay(inputValue(e)) }} /></label></div>
    <${Box} st=${st}>${(d: Json) => html`<${Table} caption="Claude Code activity per person" empty="No Claude Code activity that day."
      cols=${['Person', 'Sessions', 'Lines +', 'Lines −', 'Commits', 'PRs', 'Edits accepted', 'Edits rejected', 'Est. cost']}
      rows=${d.data.map(personRow)} />
      <nav class="pager" aria-label="Pages of people">
        <button disabled=${cursor.length === 0} onClick=${() => setCursor(cursor.slice(0, -1))}>Previous</button>
        <button disabled=${d.has_more !== true} onClick=${() => setCursor([...cursor, d.next_page])}>Next</button></nav>`}<//>
  </section>` as VNode
}
