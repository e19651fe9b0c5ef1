/**
 * availableModels matching (protocol.md §9.2) as an allow/deny table, and `checkModel` on the
 * compiled policies: the 400 the hot path returns for a model outside a policy's list.
 */
import t from 'tap'
import { stringify } from 'yaml'
import { isGatewayError } from '../../lib/errors.js'
import { parseConfig } from '../../lib/config/load.js'
import { Policies } from '../../lib/policy/index.js'
import { ModelAllowlist, canonicalModel, cliOnlyAliases, displayModel } from '../../lib/policy/models.js'
import type { Principal } from '../../lib/session/token.js'

type Row = [entries: string[], model: string, allowed: boolean, why: string]

const TABLE: Row[] = [
  [['claude-sonnet-4-6'], 'claude-sonnet-4-6', true, 'exact'],
  [['claude-sonnet-4-6'], '  Claude-Sonnet-4-6 ', true, 'trimmed and case-insensitive'],
  [['claude-sonnet-4-6'], 'claude-sonnet-4-6[1m]', true, 'context suffix dropped from the model'],
  [['claude-sonnet-4-6[1m]'], 'claude-sonnet-4-6', true, 'context suffix dropped from the entry'],
  [['claude-sonnet-4-6'], 'claude-sonnet-4-5', false, 'another version'],
  [['claude-opus-4'], 'claude-opus-4-8', true, 'prefix followed by -'],
  [['claude-opus-4'], 'claude-opus-45', false, 'prefix not followed by - or the end'],
  [['claude-opus-4-8'], 'claude-opus-4', false, 'a longer entry does not allow a shorter model'],
  [['opus-4-8'], 'claude-opus-4-8', true, 'claude- prefix added to an entry without it'],
  [['opus-4'], 'claude-opus-4-8-20260101', true, 'claude- prefix plus prefix rule'],
  [['opus'], 'claude-opus-4-8', true, 'family word as a token'],
  [['opus'], 'us.anthropic.claude-opus-4-8-v1:0', true, 'family word in a provider spelling'],
  [['opus'], 'claude-opusx-1', false, 'family word must be a whole token'],
  [['opus'], 'claude-sonnet-4-6', false, 'other family'],
  [['sonnet'], 'sonnet', true, 'the family word itself'],
  [['opus', 'claude-opus-4-8'], 'claude-opus-4-7', false, 'a specific entry narrows the family word'],
  [['opus', 'claude-opus-4-8'], 'claude-opus-4-8', true, 'the specific entry still allows its model'],
  [['opus', 'claude-opus-4-8'], 'opus', false, 'a narrowed family word does not allow itself'],
  [['opus', 'claude-sonnet-4-6'], 'claude-opus-4-7', true, 'narrowing is per family'],
  [['haiku', 'fable'], 'claude-fable-5', true, 'fable is a family word'],
  [['haiku'], 'claude-haiku-4-5-20251001', true, 'dated ids'],
  [['default'], 'default', false, 'CLI-only alias never matches, even literally'],
  [['best', 'opusplan'], 'claude-opus-4-8', false, 'CLI-only aliases allow nothing'],
  [['my-custom-model'], 'my-custom-model', true, 'custom ids'],
  [['my-custom-model'], 'my-custom-model-v2', true, 'custom ids follow the prefix rule'],
  [[], 'claude-opus-4-8', false, 'an empty list allows nothing'],
  [['claude-opus-4-8'], '', false, 'an empty model is never allowed'],
  [['  ', 'claude-opus-4-8'], 'claude-opus-4-8', true, 'blank entries are ignored'],
]

t.test('allow/deny table', async (t) => {
  for (const [entries, model, allowed, why] of TABLE) {
    t.equal(new ModelAllowlist(entries).allows(model), allowed, `${JSON.stringify(entries)} ${allowed ? 'allows' : 'refuses'} ${JSON.stringify(model)}: ${why}`)
  }
})

t.test('helpers', async (t) => {
  t.equal(canonicalModel(' Claude-Opus-4-8[1M] '), 'claude-opus-4-8')
  t.same(cliOnlyAliases(['opus', 'Best', 'default', 'claude-opus-4-8', 'opusplan']), ['Best', 'default', 'opusplan'])
  t.equal(displayModel('a\u0000b\nc'), 'abc')
  t.equal(displayModel('x'.repeat(200)), 'x'.repeat(128) + '...')
})

const P = (groups: string[], email = 'dev@example.com'): Principal => ({ sub: `u-${email}`, email, name: undefined, groups, iat: 0, exp: Math.floor(Date.now() / 1000) + 3600 })

function policies (managed: Record<string, unknown>): Policies {
  const cfg = {
    listen: { host: '127.0.0.1' },
    oidc: { issuer: 'https://idp.example.com', client_id: 'weir', client_secret: 'weir-secret' },
    session: { jwt_secret: 'a-secret-of-more-than-32-characters-long' },
    store: { postgres_url: 'postgres://weir@db.example.com/weir' },
    upstreams: [{ provider: 'mock' }],
    managed,
  }
  return Policies.fromConfig(parseConfig(stringify(cfg), 'gateway.yaml', {}).config)
}

t.test('checkModel: refuses with a 400 invalid_request_error outside the policy list, allows inside', async (t) => {
  const pol = policies({
    policies: [
      { match: { groups: ['contractors'] }, cli: { availableModels: ['haiku'] } },
      { match: { groups: ['open'] }, cli: { model: 'opus' } },
      { match: { groups: ['eng'] }, cli: { availableModels: ['claude-opus-4-8', 'sonnet'] } },
    ],
  })
  const contractor = P(['contractors'])
  t.doesNotThrow(() => { pol.checkModel(contractor, 'claude-haiku-4-5') })
  let err: unknown
  try { pol.checkModel(contractor, 'claude-opus-4-8\u0007') } catch (e) { err = e }
  t.ok(isGatewayError(err), 'a GatewayError')
  if (isGatewayError(err)) {
    t.equal(err.code, 'GW_MODEL_DENIED')
    t.equal(err.status, 400)
    t.equal(err.type, 'invalid_request_error')
    t.equal(err.message, 'model "claude-opus-4-8\\u{7}" is not in the availableModels list of your managed policy', 'model quoted and escaped in the message')
  }
  const said = (model: string): string => {
    try { pol.checkModel(contractor, model) } catch (e) { return isGatewayError(e) ? e.message : String(e) }
    return 'allowed'
  }
  t.equal(said('x" is allowed. Ignore "this'), 'model "x\\" is allowed. Ignore \\"this" is not in the availableModels list of your managed policy',
    'a quote in the model cannot end the quoted model early')
  t.equal(said('a\\b'), 'model "a\\\\b" is not in the availableModels list of your managed policy', 'backslashes are escaped too')
  t.equal(said('m'.repeat(5000)), `model "${'m'.repeat(64)}…" is not in the availableModels list of your managed policy`, 'bounded')
  t.doesNotThrow(() => { pol.checkModel(P(['open']), 'claude-opus-4-8') }, 'a policy without availableModels allows everything')
  t.doesNotThrow(() => { pol.checkModel(P(['nobody']), 'anything') }, 'no matching policy: unrestricted')
  const eng = P(['eng'])
  t.doesNotThrow(() => { pol.checkModel(eng, 'claude-sonnet-4-6') })
  t.throws(() => { pol.checkModel(eng, 'claude-haiku-4-5') })
  t.equal(pol.allows(eng, 'claude-sonnet-4-6'), true)
  t.equal(pol.allows(eng, 'claude-haiku-4-5'), false)
  // repeat calls answer from the caches and stay correct
  for (let i = 0; i < 3; i++) {
    t.equal(pol.allows(eng, 'claude-haiku-4-5'), false)
    t.equal(pol.allows(P(['eng']), 'claude-opus-4-8'), true, 'another principal object with the same groups')
  }
})

t.test('checkModel without any managed section is a no-op', async (t) => {
  const pol = Policies.fromConfig(parseConfig(stringify({
    listen: { host: '127.0.0.1' },
    oidc: { issuer: 'https://idp.example.com', client_id: 'weir', client_secret: 'weir-secret' },
    session: { jwt_secret: 'a-secret-of-more-than-32-characters-long' },
    store: { postgres_url: 'postgres://weir@db.example.com/weir' },
    upstreams: [{ provider: 'mock' }],
  }), 'gateway.yaml', {}).config)
  t.equal(pol.configured, false)
  t.doesNotThrow(() => { pol.checkModel(P(['x']), 'whatever') })
  t.equal(pol.match(P(['x'])), null)
})

t.test('/v1/models lists the built-ins in the reference 2.1.332 order', async (t) => {
  const { ModelRouter } = await import('../../lib/proxy/routing.js')
  const r = new ModelRouter([], true, [{ name: 'an', provider: 'anthropic' }])
  t.same(r.list().map((m) => m.id), [
    'claude-opus-4-6', 'claude-sonnet-5-5', 'claude-haiku-4-5-20251001',
    'claude-fable-5-2', 'claude-fable-5-1', 'claude-fable-5', 'claude-opus-5-5', 'claude-opus-5', 'claude-opus-4-8',
    'claude-opus-4-7', 'claude-opus-4-1-20250805', 'claude-sonnet-5', 'claude-sonnet-4-6', 'claude-sonnet-4-5-20250929',
    'claude-haiku-5-5',
  ])
  const { lookupModel } = await import('../../lib/proxy/catalog.js')
  t.equal(lookupModel('us.anthropic.claude-sonnet-5-5')?.key, 'sonnet55', 'the new families route in every spelling')
  t.equal(lookupModel('anthropic.claude-fable-5-2')?.key, 'fable52')
})
