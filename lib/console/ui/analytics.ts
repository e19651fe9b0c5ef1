// Claude Code analytics: the usage_report/claude_code data (per person per day) as a seven-day
// trend of sessions, lines and commits, and a table of one day's activity per person.
import type { VNode } from 'preact'
import { useState } from 'preact/hooks'
import { api, type Json } from './api.js'
import { dayAgo, num, usd } from './format.js'
import { Box, Chart, html, inputValue, Table, useLoad } from './widgets.js'

const sum = (page: Json, f: (r: Json) => number): number => (page.data as Json[]).reduce((a: number, r) => a + f(r), 0)
const tools = (r: Json): [number, number] => (Object.values(r.tool_actions ?? {}) as Json[]).reduce<[number, number]>((a, t) => [a[0] + (t.accepted ?? 0), a[1] + (t.rejected ?? 0)], [0, 0])
const cost = (r: Json): number => ((r.model_breakdown ?? []) as Json[]).reduce((a: number, m) => a + Number(m.estimated_cost?.amount ?? 0), 0)

function personRow (r: Json): unknown[] {
  const [acc, rej] = tools(r)
  const m = r.core_metrics ?? {}
  return [r.actor?.email_address ?? r.actor?.api_key_name ?? '—', num(m.num_sessions), num(m.lines_of_code?.added), num(m.lines_of_code?.removed),
    num(m.commits_by_claude_code), num(m.pull_requests_by_claude_code), num(acc), num(rej), usd(cost(r))]
}

export function Analytics (): VNode {
  const [day, setDay] = useState(dayAgo(0))
  const [st] = useLoad(async () => await api(`/claude_code?starting_at=${day}&limit=100`), [day])
  const [trend] = useLoad(async () => {
    const days = [6, 5, 4, 3, 2, 1, 0].map(dayAgo)
    const pages = await Promise.all(days.map(async (d) => await api(`/claude_code?starting_at=${d}&limit=1000`)))
    return {
      xs: days.map((d) => Date.parse(`${d}T00:00:00Z`) / 1000),
      series: [
        { label: 'Sessions', values: pages.map((p) => sum(p, (r) => r.core_metrics?.num_sessions ?? 0)) },
        { label: 'Lines added', values: pages.map((p) => sum(p, (r) => r.core_metrics?.lines_of_code?.added ?? 0)) },
        { label: 'Lines removed', values: pages.map((p) => sum(p, (r) => r.core_metrics?.lines_of_code?.removed ?? 0)) },
        { label: 'Commits', values: pages.map((p) => sum(p, (r) => r.core_metrics?.commits_by_claude_code ?? 0)) },
      ],
    }
  }, [])
  return html`<section aria-labelledby="cc"><h2 id="cc">Claude Code analytics</h2>
    <${Box} st=${trend}>${(t: Json) => html`<${Chart} title="Last 7 days" xs=${t.xs} series=${t.series} />`}<//>
    <div class="row"><h3>Per person</h3><label class="inline">Day <input type="date" value=${day} onChange=${(e: Event) => setDay(inputValue(e))} /></label></div>
    <${Box} st=${st}>${(d: Json) => html`<${Table} caption="Claude Code activity per person" empty="No Claude Code activity that day."
      cols=${['Person', 'Sessions', 'Lines +', 'Lines −', 'Commits', 'PRs', 'Edits accepted', 'Edits rejected', 'Est. cost']}
      rows=${d.data.map(personRow)} />`}<//>
  </section>` as VNode
}
