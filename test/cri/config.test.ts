/**
 * The `cri` section: cross-section rules (oidc may be left out only with cri.enabled; audience and
 * org allow-list required when enabled) and its boot warnings.
 */
import t from 'tap'
import { configWarnings } from '../../lib/config/warnings.js'
import { baseYaml, parse, refuse } from '../helpers/config.js'

const ORG = '0b9a4c52-6f1e-4a77-9d35-2c8e51f0a6b3'

t.test('cri.enabled without audience or allow-list does not boot', async (t) => {
  t.same(refuse(t, baseYaml(c => { c.cri = { enabled: true } })), [
    'gateway.yaml:17:3 cri.audience: must list at least one audience when cri.enabled is true',
    'gateway.yaml:17:3 cri.org_allowlist: must list at least one organization UUID when cri.enabled is true',
  ])
})

t.test('oidc may be left out only when cri is enabled', async (t) => {
  const without = (edit?: (c: Record<string, any>) => void): string => baseYaml(c => { delete c.oidc; edit?.(c) }) // eslint-disable-line @typescript-eslint/no-explicit-any
  t.match(refuse(t, without()), [/oidc: missing required key \(only a gateway with cri\.enabled: true may leave out sign-in\)/])
  t.match(refuse(t, without(c => { c.cri = { enabled: false, audience: ['gw'], org_allowlist: [ORG] } })), [/oidc: missing required key/])
  const loaded = parse(without(c => { c.cri = { enabled: true, audience: [' gw-prod '], org_allowlist: [ORG.toUpperCase()] } }))
  t.equal(loaded.config.oidc, undefined, 'boots without oidc')
  t.same(loaded.config.cri, { enabled: true, audience: ['gw-prod'], org_allowlist: [ORG] }, 'trimmed and lowercased')
  t.same(configWarnings(loaded.config, {}), [], 'no warnings for a plain CRI-only gateway')
})

t.test('boot warnings: inert block, odd organisation ids, sections a CRI-only gateway never uses', async (t) => {
  const w = (text: string): string[] => configWarnings(parse(text).config, {}).map(x => `${x.path.join('.')}: ${x.message}`)
  t.same(w(baseYaml(c => { c.cri = { audience: ['gw'] } })), ['cri: the cri block has no effect while cri.enabled is false'])
  t.same(w(baseYaml(c => { c.cri = { enabled: true, audience: ['gw'], org_allowlist: [ORG, 'acme'] } })), [
    "cri.org_allowlist.1: 'acme' does not look like an Anthropic organization UUID, so no token is likely to carry it",
  ])
  t.same(w(baseYaml(c => {
    delete c.oidc
    c.cri = { enabled: true, audience: ['gw'], org_allowlist: [ORG] }
    c.managed = { settings: '{"model": "opus"}' }
  })), ['managed: managed has no effect on a gateway without oidc: customer-routed requests are neither matched to managed policies nor metered'])
})
