// People: everyone Weir has seen (paged, searchable), their groups and last sign-in; signing a
// person out everywhere (administrators only); and a preview of the managed settings a given
// email and set of groups would receive.
import type { VNode } from 'preact'
import { useState } from 'preact/hooks'
import { api, type Json } from './api.js'
import { when } from './format.js'
import { Box, html, inputValue as value, noteView, type Note, Table, useLoad } from './widgets.js'

export function People ({ me }: { me: Json }): VNode {
  const [q, setQ] = useState('')
  const [cursor, setCursor] = useState<string[]>([])
  const [list, reload] = useLoad(async () => await api(`/people?limit=25${q !== '' ? `&q=${encodeURIComponent(q)}` : ''}${cursor.length > 0 ? `&before=${encodeURIComponent(cursor[cursor.length - 1] as string)}` : ''}`), [q, cursor])
  const [msg, setMsg] = useState<Note | null>(null)
  const [pv, setPv] = useState({ email: '', groups: '' })
  const [preview, setPreview] = useState<Json>(null)
  const signOut = async (p: Json): Promise<void> => {
    if (!confirm(`Sign ${p.email ?? p.user_id} out everywhere?`)) return
    try {
      const r = await api('/sign_out', { method: 'POST', body: { user_id: p.user_id } })
      setMsg({ ok: true, text: `Signed out ${p.email ?? p.user_id}: ${r.sign_ins_ended} sign-in(s) ended.` }); reload()
    } catch (err) { setMsg({ ok: false, text: (err as Error).message }) }
  }
  const search = (e: Event): void => {
    e.preventDefault()
    setCursor([])
    setQ(((e.currentTarget as HTMLFormElement).elements.namedItem('q') as HTMLInputElement).value)
  }
  const showPreview = async (e: Event): Promise<void> => {
    e.preventDefault()
    setPreview(await api(`/preview?email=${encodeURIComponent(pv.email)}&groups=${encodeURIComponent(pv.groups)}`).catch((err: Error) => ({ message: err.message })))
  }
  return html`
    <section aria-labelledby="ppl"><h2 id="ppl">People</h2>
      <form class="form" role="search" onSubmit=${search}>
        <label>Search email or subject <input name="q" type="search" /></label><button type="submit">Search</button></form>
      ${noteView(msg)}
      <${Box} st=${list}>${(l: Json) => html`
        <${Table} caption="People Weir has seen" cols=${['Person', 'Groups', 'Last seen', '']} empty="Nobody matches."
          rows=${l.data.map((p: Json) => [html`${p.email ?? p.user_id}<br /><span class="muted small">${p.user_id}</span>`, p.groups.join(', ') || '—', when(p.last_seen_at),
            me.role === 'admin' ? html`<button class="danger small" onClick=${() => { void signOut(p) }} aria-label=${`Sign ${p.email ?? p.user_id} out everywhere`}>Sign out everywhere</button>` : html`<span class="muted">read-only</span>`])} />
        <nav class="pager" aria-label="Pages">
          <button disabled=${cursor.length === 0} onClick=${() => setCursor(cursor.slice(0, -1))}>Newer</button>
          <button disabled=${l.has_more !== true} onClick=${() => setCursor([...cursor, l.next])}>Older</button></nav>`}<//>
    </section>
    <section aria-labelledby="pv"><h2 id="pv">Policy preview</h2>
      <p class="muted">The managed settings a person with this email and these groups would receive.</p>
      <form class="form" onSubmit=${showPreview}>
        <label>Email <input type="email" value=${pv.email} onInput=${(e: Event) => setPv({ ...pv, email: value(e) })} /></label>
        <label>Groups (comma-separated) <input value=${pv.groups} onInput=${(e: Event) => setPv({ ...pv, groups: value(e) })} /></label>
        <button type="submit">Preview</button></form>
      ${preview !== null && html`<div class="preview">${preview.policy
        ? html`<p>Policy #${preview.policy.index} · checksum <code>${preview.policy.checksum.slice(0, 12)}</code></p><pre>${JSON.stringify(preview.settings, null, 2)}</pre>`
        : html`<p class="muted">${preview.message}</p>`}</div>`}
    </section>` as VNode
}
