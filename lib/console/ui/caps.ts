// Caps: the spend limits of people, groups and the organization; create, change and delete them
// (administrators only: the server refuses read-only ones as well), and the effective caps of
// any person. Changes go through the admin API's own path, so they are audited the same way.
import type { VNode } from 'preact'
import { useState } from 'preact/hooks'
import { api, type Json } from './api.js'
import { usd, when } from './format.js'
import { Box, html, inputValue as value, noteView, type Note, Table, useLoad } from './widgets.js'

type ScopeType = 'organization' | 'rbac_group' | 'user'
interface Form { type: ScopeType, who: string, amount: string, period: string }

const scopeText = (s: Json): string => s.type === 'organization' ? 'Organization' : s.type === 'rbac_group' ? `Group ${s.group_id ?? s.rbac_group_id ?? ''}` : `User ${s.user_id}`

function scopeOf (f: Form): Json {
  if (f.type === 'organization') return { type: 'organization' }
  if (f.type === 'rbac_group') return { type: 'rbac_group', rbac_group_id: f.who }
  return f.who.includes('@') ? { type: 'user', email: f.who } : { type: 'user', user_id: f.who }
}

export function Caps ({ me }: { me: Json }): VNode {
  const [list, reload] = useLoad(async () => await api('/caps?limit=100'), [])
  const ro = me.role !== 'admin'
  const [form, setForm] = useState<Form>({ type: 'organization', who: '', amount: '', period: 'monthly' })
  const [msg, setMsg] = useState<Note | null>(null)
  const [eff, setEff] = useState<Json>(null)
  const [effUser, setEffUser] = useState('')
  const save = async (e: Event): Promise<void> => {
    e.preventDefault()
    try {
      await api('/caps', { method: 'POST', body: { scope: scopeOf(form), amount: String(Math.round(Number(form.amount) * 100)), period: form.period } })
      setMsg({ ok: true, text: 'Cap saved.' }); reload()
    } catch (err) { setMsg({ ok: false, text: (err as Error).message }) }
  }
  const del = async (id: string): Promise<void> => {
    if (!confirm('Delete this cap?')) return
    try { await api(`/caps/${encodeURIComponent(id)}`, { method: 'DELETE' }); setMsg({ ok: true, text: 'Cap deleted.' }); reload() } catch (err) { setMsg({ ok: false, text: (err as Error).message }) }
  }
  const effective = async (e: Event): Promise<void> => {
    e.preventDefault()
    try {
      let id = effUser
      if (id.includes('@')) { const p = await api(`/principals?email=${encodeURIComponent(id)}`); id = p.data[0]?.user_id ?? id }
      setEff(await api(`/caps/effective?user_ids[]=${encodeURIComponent(id)}&period[]=daily&period[]=weekly&period[]=monthly`))
    } catch (err) { setEff({ error: (err as Error).message }) }
  }
  return html`
    <section aria-labelledby="caps"><h2 id="caps">Spend caps</h2>
      ${noteView(msg)}
      <${Box} st=${list}>${(l: Json) => html`<${Table} caption="Spend caps" cols=${['Scope', 'Period', 'Cap', 'Updated', '']} empty="No caps yet."
        rows=${l.data.map((c: Json) => [scopeText(c.scope), c.period, usd(c.amount), when(c.updated_at),
          ro ? html`<span class="muted">read-only</span>` : html`<button class="danger small" onClick=${() => { void del(c.id) }} aria-label=${`Delete ${scopeText(c.scope)} ${c.period} cap`}>Delete</button>`])} />`}<//>
    </section>
    ${ro ? html`<p class="note">You are a read-only administrator: you can see caps but not change them.</p>` : html`
    <section aria-labelledby="newcap"><h2 id="newcap">Create or change a cap</h2>
      <form class="form" onSubmit=${save}>
        <label>Applies to <select value=${form.type} onChange=${(e: Event) => setForm({ ...form, type: value(e) as ScopeType })}>
          <option value="organization">Organization</option><option value="rbac_group">Group</option><option value="user">Person</option></select></label>
        ${form.type !== 'organization' && html`<label>${form.type === 'user' ? 'Email or subject' : 'Group name'} <input required value=${form.who} onInput=${(e: Event) => setForm({ ...form, who: value(e) })} /></label>`}
        <label>Period <select value=${form.period} onChange=${(e: Event) => setForm({ ...form, period: value(e) })}><option>daily</option><option>weekly</option><option>monthly</option></select></label>
        <label>Amount (USD) <input required type="number" min="0" step="0.01" inputmode="decimal" value=${form.amount} onInput=${(e: Event) => setForm({ ...form, amount: value(e) })} /></label>
        <button type="submit">Save cap</button>
      </form></section>`}
    <section aria-labelledby="eff"><h2 id="eff">Effective caps for a person</h2>
      <form class="form" onSubmit=${effective}>
        <label>Email or subject <input required value=${effUser} onInput=${(e: Event) => setEffUser(value(e))} /></label>
        <button type="submit">Show</button></form>
      ${eff !== null && (eff.error !== undefined ? html`<p class="error">${eff.error}</p>` : html`<${Table} caption="Effective caps" cols=${['Period', 'Cap', 'Spent', 'From']} empty="No cap applies."
        rows=${(eff.data ?? []).map((x: Json) => [x.period, x.amount === null ? 'none' : usd(x.amount), usd(x.spend ?? x.period_to_date_spend ?? 0), x.source ? scopeText(x.source) : '—'])} />`)}
    </section>` as VNode
}
