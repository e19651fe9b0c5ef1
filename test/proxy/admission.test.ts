/**
 * Admission as a pure function: request headers, body bytes, principal and configuration in; the
 * candidates (or a registry error with the model as far as it was read) out. No sockets.
 */
import t, { type Test } from 'tap'
import { GatewayError } from '../../lib/errors.js'
import { admit, isRefused, type AdmissionDeps, type Admitted, type Refused } from '../../lib/proxy/admission.js'
import { ModelRouter } from '../../lib/proxy/routing.js'
import type { Principal } from '../../lib/session/token.js'

const alice: Principal = { sub: 'u-alice', email: 'alice@example.com', name: undefined, groups: ['eng', 'research'], iat: 0, exp: 0 }
const cri: Principal = { ...alice, sub: 'cri-1', groups: [], cri: { org: 'org_1', act: undefined } }
const body = (o: unknown): Buffer => Buffer.from(JSON.stringify(o))
const msg = (model: unknown, extra: Record<string, unknown> = {}): Buffer => body({ model, max_tokens: 32, messages: [{ role: 'user', content: 'hi' }], ...extra })

function deps (over: Partial<AdmissionDeps> = {}): AdmissionDeps & { checked: string[] } {
  const checked: string[] = []
  return {
    checked,
    models: new ModelRouter([], true, [{ name: 'an', provider: 'anthropic' }, { name: 'br', provider: 'bedrock' }]),
    policy: {
      checkModel (_p, m) { checked.push(m); if (m.startsWith('claude-opus')) throw new GatewayError('GW_MODEL_DENIED', `model ${m} is not allowed for you`) },
      auditFields: () => null,
    },
    billingGroupTag: undefined,
    upstreamGroups: [null, null],
    ...over,
  }
}

const ok = (t: Test, d: Admitted | Refused): Admitted => {
  if (isRefused(d)) { t.fail(`refused: ${d.error.message}`); throw d.error }
  return d
}
const refused = (t: Test, d: Admitted | Refused): Refused => {
  if (!isRefused(d)) { t.fail('admitted'); throw new Error('admitted') }
  return d
}

t.test('an allowed, routable model: scan, family and every candidate in configured order', async (t) => {
  const dp = deps()
  const d = ok(t, admit({}, msg('claude-haiku-4-5'), alice, dp))
  t.equal(d.model, 'claude-haiku-4-5')
  t.equal(d.family, 'haiku45')
  t.equal(d.scan.maxTokens, 32)
  t.same(d.candidates.map((c) => c.upstream), [0, 1])
  t.equal(d.billingGroup, undefined)
  t.same(dp.checked, ['claude-haiku-4-5'], 'the policy saw the model once')
})

t.test('refusals are registry errors, returned with the model as far as it was read', async (t) => {
  const dp = deps()
  const cases: Array<[string, Record<string, string>, Buffer, string, number, string]> = [
    ['a forwarded header with a control character', { 'anthropic-beta': 'a\u0001b' }, msg('claude-haiku-4-5'), 'GW_BAD_REQUEST', 400, ''],
    ['a body that is not JSON', {}, Buffer.from('{"model": '), 'GW_INVALID_JSON', 400, ''],
    ['no model', {}, body({ max_tokens: 1 }), 'GW_MODEL_REQUIRED', 400, ''],
    ['an empty model', {}, msg(''), 'GW_MODEL_REQUIRED', 400, ''],
    ['a model that is not a string', {}, msg(7), 'GW_INVALID_JSON', 400, ''],
    ['a model the policy denies', {}, msg('claude-opus-4-6'), 'GW_MODEL_DENIED', 400, 'claude-opus-4-6'],
    ['a model nothing routes', {}, msg('gpt-4o'), 'GW_MODEL_UNKNOWN', 400, 'gpt-4o'],
  ]
  for (const [label, headers, b, code, status, model] of cases) {
    const r = refused(t, admit(headers, b, alice, dp))
    t.equal(r.error.code, code, `${label}: code`)
    t.equal(r.error.status, status, `${label}: status`)
    t.equal(r.model, model, `${label}: model as read`)
  }
  t.match(refused(t, admit({}, msg('gpt-4o'), alice, dp)).error.message, /model "gpt-4o" is not available: an: /)
})

t.test('a customer-routed principal skips the model policy', async (t) => {
  const dp = deps()
  const d = ok(t, admit({}, msg('claude-opus-4-6'), cri, dp))
  t.equal(d.model, 'claude-opus-4-6')
  t.same(dp.checked, [], 'policy not consulted')
})

t.test('group-reserved upstreams are left out; none left is a clear refusal', async (t) => {
  const dp = deps({ upstreamGroups: [new Set(['finance']), null] })
  t.same(ok(t, admit({}, msg('claude-haiku-4-5'), alice, dp)).candidates.map((c) => c.upstream), [1], 'the finance upstream is skipped')
  const mine = deps({ upstreamGroups: [new Set(['research']), new Set(['finance'])] })
  t.same(ok(t, admit({}, msg('claude-haiku-4-5'), alice, mine)).candidates.map((c) => c.upstream), [0], 'a group the principal has')
  const none = deps({ upstreamGroups: [new Set(['finance']), new Set(['legal'])] })
  const r = refused(t, admit({}, msg('claude-haiku-4-5'), alice, none))
  t.equal(r.error.code, 'GW_MODEL_UNKNOWN')
  t.match(r.error.message, /not available to your groups/)
  t.equal(r.model, 'claude-haiku-4-5')
})

t.test('the billing group comes from the configured tag, only for a group the principal is in', async (t) => {
  const dp = deps({ billingGroupTag: 'team' })
  t.equal(ok(t, admit({}, msg('claude-haiku-4-5', { tags: { team: 'research' } }), alice, dp)).billingGroup, 'research')
  t.equal(ok(t, admit({}, msg('claude-haiku-4-5', { tags: { team: 'finance' } }), alice, dp)).billingGroup, undefined, 'not a member')
  t.equal(ok(t, admit({}, msg('claude-haiku-4-5', { tags: { team: 7 } }), alice, dp)).billingGroup, undefined, 'not a string')
  t.equal(ok(t, admit({}, msg('claude-haiku-4-5', { tags: { team: 'research' } }), alice, deps())).billingGroup, undefined, 'no tag configured')
})

t.test('a non-registry error from the policy is a bug: it is thrown, not rendered', async (t) => {
  const dp = deps({ policy: { checkModel () { throw new TypeError('boom') }, auditFields: () => null } })
  t.throws(() => admit({}, msg('claude-haiku-4-5'), alice, dp), TypeError)
})
