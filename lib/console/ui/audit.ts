// Audit: the admin audit trail, newest first, filtered by actor, action and target, paged by id.
// A target search is bounded on the server (AUDIT_SEARCH_WINDOW rows a request, lib/console/
// primary.ts): a reply with `more_may_match` examined a window that ended before the trail did, so
// the page says how far back it searched and offers "Search older", which asks again below
// `searched_to_id`. "Older" still follows `has_more` (another match certainly exists).
// When the answer to "Search older" needs no further window, the button goes away and keyboard
// focus moves on instead of falling back to the page: to a notice that the search reached the
// start of the trail, or, when that window filled the page, to "Older" (more matches certainly
// exist below it).
import type { VNode } from 'preact'
import { useEffect, useRef, useState } from 'preact/hooks'
import { api, type Json } from './api.js'
import { when } from './format.js'
import { Box, html, Table, useLoad } from './widgets.js'

export function Audit (): VNode {
  const [f, setF] = useState({ actor: '', action: '', target: '' })
  // Each entry is the `before_id` of one step back: a page's last row (Older) or a search window's
  // oldest examined row (Search older); Newer pops one.
  const [cursor, setCursor] = useState<string[]>([])
  const searchedTo = (a: Json): string | null => a.more_may_match === true && typeof a.searched_to_id === 'string' ? a.searched_to_id : null
  const qs = new URLSearchParams({ limit: '25', ...Object.fromEntries(Object.entries(f).filter(([, v]) => v !== '')), ...(cursor.length > 0 ? { before_id: cursor[cursor.length - 1] as string } : {}) })
  const [st] = useLoad(async () => await api(`/audit?${qs.toString()}`), [qs.toString()])
  // The `before_id` of the last "Search older" step, and whether its answer is still awaited.
  const [searchedFrom, setSearchedFrom] = useState<string | null>(null)
  const awaiting = useRef(false)
  const endNote = useRef<HTMLParagraphElement>(null)
  const olderButton = useRef<HTMLButtonElement>(null)
  useEffect(() => {
    if (!awaiting.current || st.data === undefined) return
    awaiting.current = false
    // Still more to search: the button stayed and kept focus.
    if (searchedTo(st.data) !== null) return
    ;(endNote.current ?? olderButton.current)?.focus()
  }, [st.data])
  const submit = (e: Event): void => {
    e.preventDefault()
    const el = (e.currentTarget as HTMLFormElement).elements
    const v = (name: string): string => (el.namedItem(name) as HTMLInputElement | HTMLSelectElement).value
    setCursor([])
    setSearchedFrom(null)
    setF({ actor: v('actor'), action: v('action'), target: v('target') })
  }
  const older = (from: string): void => { awaiting.current = true; setSearchedFrom(from); setCursor([...cursor, from]) }
  // This page answers "Search older", its window reached the start of the trail and nothing older matches.
  const reachedStart = (a: Json): boolean => a.more_may_match === false && a.has_more !== true && cursor.length > 0 && cursor[cursor.length - 1] === searchedFrom
  return html`<section aria-labelledby="au"><h2 id="au">Audit trail</h2>
    <form class="form" onSubmit=${submit}>
      <label>Actor <input name="actor" placeholder="oidc:… or admin-key:…" /></label>
      <label>Action <select name="action"><option value="">Any</option>${((st.data as Json)?.actions ?? []).map((a: string) => html`<option>${a}</option>`)}</select></label>
      <label>Target contains <input name="target" /></label><button type="submit">Filter</button></form>
    <${Box} st=${st}>${(a: Json) => html`
      <${Table} caption="Audit events" cols=${['When', 'Actor', 'Action', 'Target', 'Change']} empty=${searchedTo(a) === null ? 'No events match.' : 'No events match in this part of the trail.'}
        rows=${a.data.map((e: Json) => [when(e.created_at), e.actor, e.action, e.target_id, html`<details><summary>Details</summary><pre>${JSON.stringify({ before: e.before, after: e.after }, null, 2)}</pre></details>`])} />
      ${searchedTo(a) !== null && html`<div class="note searched"><span role="status">Searched back to event ${searchedTo(a)} — older events may match.</span>
        <button type="button" class="small" onClick=${() => older(searchedTo(a) as string)}>Search older</button></div>`}
      ${reachedStart(a) && html`<p class="note searched" role="status" tabindex="-1" ref=${endNote}>Searched to the start of the trail: there are no older events to search.</p>`}
      <nav class="pager" aria-label="Pages"><button disabled=${cursor.length === 0} onClick=${() => setCursor(cursor.slice(0, -1))}>Newer</button>
        <button ref=${olderButton} disabled=${a.has_more !== true} onClick=${() => setCursor([...cursor, a.data[a.data.length - 1].id])}>Older</button></nav>`}<//></section>` as VNode
}
