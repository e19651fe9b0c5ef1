/**
 * The root page `/`: a small proper page (viewport, title, what this is, a link to /protocol) in
 * the sign-in pages' style, with `listen.branding` escaped and no script.
 */
import t from 'tap'
import { startTestGateway } from '../helpers/gateway.js'
import { req } from '../helpers/http.js'

t.test('GET / is a real page, branded and script-free', async (t) => {
  const { url } = await startTestGateway(t, {
    config: (c) => { c.listen.branding = { organization_name: 'Acme <b>R&D</b>', logo_url: 'https://cdn.acme.example/logo.svg', accent_color: '#0b5fff' } },
  })
  const r = await req(`${url}/`)
  t.equal(r.status, 200)
  t.match(r.text, '<meta name="viewport" content="width=device-width,initial-scale=1">')
  t.match(r.text, '<title>Claude Code gateway · Acme &lt;b&gt;R&amp;D&lt;/b&gt;</title>')
  t.match(r.text, '<a href="/protocol">/protocol</a>')
  t.match(r.text, '/login')
  t.match(r.text, '<img src="https://cdn.acme.example/logo.svg"')
  t.notMatch(r.text, '<b>R&D</b>', 'the name is escaped')
  t.notMatch(r.text, /<script/i)
  t.match(r.headers['content-security-policy'], /default-src 'none'.*; img-src https:\/\/cdn\.acme\.example$/)
  t.match(r.text, 'button:not(.secondary){background:#0b5fff', 'the accent colour is in the style sheet')
})
