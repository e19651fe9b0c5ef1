// Shared pieces of every page: the htm binding, a data loader hook, the loading/error box, the
// accessible table (caption, scoped headers) and the uPlot chart (styled through CSSOM, so the
// strict CSP's style-src 'self' holds: nothing here writes inline style attributes).
import { h, type ComponentChildren, type VNode } from 'preact'
import { useCallback, useEffect, useRef, useState } from 'preact/hooks'
import htm from 'htm'
import uPlot from 'uplot'
import type { Json } from './api.js'
import { num, usd } from './format.js'

export const html = htm.bind(h)

export interface Load<T> { loading?: boolean, data?: T, error?: Error }

/** Run `fn` now and whenever `deps` change; returns the state and a reload function. */
export function useLoad<T = Json> (fn: () => Promise<T>, deps: unknown[]): [Load<T>, () => void] {
  const [st, set] = useState<Load<T>>({ loading: true })
  const reload = useCallback(() => {
    set((s) => ({ ...s, loading: true }))
    fn().then((data) => set({ data }), (error: Error) => set({ error }))
  }, deps)
  useEffect(reload, [reload])
  return [st, reload]
}

export function Box<T> ({ st, children }: { st: Load<T>, children: (data: T) => ComponentChildren }): ComponentChildren {
  if (st.error !== undefined) return html`<p class="error" role="alert">${st.error.message}</p>`
  if (st.data === undefined) return html`<p class="muted" aria-live="polite">Loading…</p>`
  return children(st.data)
}

export function Table ({ caption, cols, rows, empty }: { caption: string, cols: string[], rows: ComponentChildren[][], empty: string }): VNode {
  if (rows.length === 0) return html`<p class="muted">${empty}</p>` as VNode
  return html`<div class="tablewrap"><table><caption class="sr">${caption}</caption>
    <thead><tr>${cols.map((c) => html`<th scope="col">${c}</th>`)}</tr></thead>
    <tbody>${rows.map((r) => html`<tr>${r.map((c, i) => i === 0 ? html`<th scope="row">${c}</th>` : html`<td>${c}</td>`)}</tr>`)}</tbody></table></div>` as VNode
}

export interface Series { label: string, values: number[] }

const PALETTE = ['#4f7cff', '#e8833a', '#2bb673', '#c855c8', '#e0b000', '#17a2b8', '#d9534f', '#8a8f98']

export function Chart ({ title, xs, series, money }: { title: string, xs: number[], series: Series[], money?: boolean }): VNode {
  const ref = useRef<HTMLDivElement>(null)
  useEffect(() => {
    const el = ref.current
    if (el === null || xs.length === 0) return
    const dark = matchMedia('(prefers-color-scheme: dark)').matches
    const axis = { stroke: dark ? '#a9b0bb' : '#5b6472', grid: { stroke: dark ? '#2a2f38' : '#e6e8ec' }, ticks: { stroke: dark ? '#2a2f38' : '#e6e8ec' } }
    const fmt = (v: number): string => money === true ? usd(v) : num(v)
    const width = Math.max(280, el.clientWidth)
    const u = new uPlot({
      width,
      height: 240,
      scales: { x: { time: true } },
      axes: [axis, { ...axis, values: (_u: uPlot, v: number[]) => v.map(fmt), size: 70 }],
      series: [{}, ...series.map((s, i) => ({ label: s.label, stroke: PALETTE[i % PALETTE.length], width: 2, points: { show: true }, value: (_u: uPlot, v: number | null) => v == null ? '—' : fmt(v) }))],
    }, [xs, ...series.map((s) => s.values)], el)
    const ro = new ResizeObserver(() => u.setSize({ width: Math.max(280, ref.current?.clientWidth ?? width), height: 240 }))
    ro.observe(el)
    return () => { ro.disconnect(); u.destroy() }
  }, [xs, series])
  return html`<figure class="chart"><figcaption>${title}</figcaption>${xs.length === 0 ? html`<p class="muted">No data yet.</p>` : html`<div ref=${ref}></div>`}</figure>` as VNode
}

/** A report page (buckets of results) as chart series keyed by `key(result)`, at most eight. */
export function toSeries (buckets: Json[], key: (r: Json) => string | undefined, value: (r: Json) => number): { xs: number[], series: Series[] } {
  const xs = buckets.map((b) => Date.parse(b.starting_at) / 1000)
  const names = new Set<string>()
  for (const b of buckets) for (const r of b.results) names.add(key(r) ?? '(none)')
  const series = [...names].slice(0, 8).map((n) => ({
    label: n,
    values: buckets.map((b) => (b.results as Json[]).filter((r) => (key(r) ?? '(none)') === n).reduce((a: number, r) => a + value(r), 0)),
  }))
  return { xs, series }
}

/** The value of the input or select an event came from. */
export const inputValue = (e: Event): string => (e.currentTarget as HTMLInputElement | HTMLSelectElement).value

/** Messages after an action: `ok` ones are polite status, others errors. */
export interface Note { ok: boolean, text: string }
export const noteView = (msg: Note | null): ComponentChildren => msg !== null && html`<p class=${msg.ok ? 'ok' : 'error'} role="status">${msg.text}</p>`
