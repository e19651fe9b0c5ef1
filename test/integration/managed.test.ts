/**
 * Managed policies over real sockets against a real gateway (worker threads, Postgres, IdP):
 * two developers in different groups get different settings and model lists from the same Weir;
 * the ETag/304 flow and the If-None-Match: * probe; 404 (no policy) versus 200 with {} (an empty
 * policy); Claude Desktop sessions and /user/bootstrap; /v1/models per group.
 */
import t from 'tap'
import { settingsChecksum } from '../../lib/policy/index.js'
import { keyRing, mintToken } from '../../lib/session/token.js'
import { VERSION } from '../../lib/version.js'
import { startTestGateway, TEST_SECRET } from '../helpers/gateway.js'
import { req } from '../helpers/http.js'

const ring = keyRing([TEST_SECRET])
const bearer = (email: string, groups: string[]): Record<string, string> =>
  ({ authorization: `Bearer ${mintToken(ring, { sub: `u-${email.split('@')[0] ?? ''}`, email, groups }, { ttlHours: 1 }).token}` })

const ALICE = bearer('alice@example.com', ['eng'])
const BOB = bearer('bob@contractor.example', ['contractors'])
const EMPTY = bearer('erin@example.com', ['interns'])
const NOBODY = bearer('nobody@elsewhere.example', ['visitors'])
const DESKTOP_UA = { 'user-agent': 'claude-cli/2.1.328 (external, claude-desktop)' }

t.test('cli policies without a catch-all', async (t) => {
  const { url } = await startTestGateway(t, {
    config: c => {
      c.managed = {
        policies: [
          { match: { groups: ['contractors'] }, cli: { availableModels: ['haiku'], env: { TEAM: 'contractors', NOTE: 'héllo ✓ \u2028' }, permissions: { deny: ['WebFetch'] } } },
          { match: { email_domain: 'example.com', groups: ['eng'] }, cli: { availableModels: ['claude-opus-4-8', 'sonnet'], env: { TEAM: 'eng', CLAUDE_CODE_GATEWAY_HINT_HEADERS: '1' } }, desktop: { disabledBuiltinTools: ['Bash'] } },
          { match: { groups: ['interns'] }, cli: {} },
        ],
      }
    },
  })

  await t.test('two groups, two documents, each with its checksum as ETag', async (t) => {
    const a = await req(`${url}/managed/settings`, { headers: ALICE })
    const b = await req(`${url}/managed/settings`, { headers: BOB })
    t.equal(a.status, 200)
    t.equal(b.status, 200)
    const da = a.json()
    const db = b.json()
    t.same(Object.keys(da), ['uuid', 'checksum', 'settings'])
    t.same(da.settings, { availableModels: ['claude-opus-4-8', 'sonnet'], env: { TEAM: 'eng', CLAUDE_CODE_GATEWAY_HINT_HEADERS: '1' } })
    t.same(db.settings.env, { TEAM: 'contractors', NOTE: 'héllo ✓ \u2028' }, 'unicode arrives intact')
    t.equal(da.checksum, settingsChecksum(da.settings), 'checksum as the client computes it from the settings it received')
    t.equal(db.checksum, settingsChecksum(db.settings))
    t.equal(da.uuid, da.checksum)
    t.not(da.checksum, db.checksum)
    t.equal(a.headers.etag, `"${da.checksum}"`)
    t.equal(a.headers['x-cc-gateway-version'], VERSION)
    t.match(a.headers['content-type'], /^application\/json/)
    t.equal(a.headers.vary, 'User-Agent')
    t.notOk(a.headers['cache-control'], 'a 200 is not marked no-store')
    const post = await req(`${url}/managed/settings`, { method: 'POST', headers: ALICE })
    t.equal(post.status, 200, 'any method is answered')
  })

  await t.test('304 only for an If-None-Match equal to the quoted checksum', async (t) => {
    const first = await req(`${url}/managed/settings`, { headers: BOB })
    const etag = first.headers.etag as string
    const same = await req(`${url}/managed/settings`, { headers: { ...BOB, 'if-none-match': etag } })
    t.equal(same.status, 304)
    t.equal(same.text, '')
    t.equal(same.headers['x-cc-gateway-version'], VERSION)
    t.notOk(same.headers['cache-control'])
    for (const v of [`W/${etag}`, `"x", ${etag}`, etag.slice(1, -1), '"sha256:0000"']) {
      const r = await req(`${url}/managed/settings`, { headers: { ...BOB, 'if-none-match': v } })
      t.equal(r.status, 200, `If-None-Match: ${v} gets the document`)
    }
    const other = await req(`${url}/managed/settings`, { headers: { ...ALICE, 'if-none-match': etag } })
    t.equal(other.status, 200, 'another policy\'s checksum does not match')
    const star = await req(`${url}/managed/settings`, { headers: { ...BOB, 'if-none-match': '*' } })
    t.equal(star.status, 200, 'the If-None-Match: * probe is answered as without the header')
    t.same(star.json(), first.json())
  })

  await t.test('an empty policy is 200 with {}; no matching policy is 404, marked no-store', async (t) => {
    const empty = await req(`${url}/managed/settings`, { headers: EMPTY })
    t.equal(empty.status, 200)
    t.same(empty.json(), { uuid: settingsChecksum({}), checksum: settingsChecksum({}), settings: {} })
    const none = await req(`${url}/managed/settings`, { headers: NOBODY })
    t.equal(none.status, 404)
    t.same(none.json().error.type, 'not_found_error')
    t.equal(none.json().type, 'error')
    t.equal(none.headers['cache-control'], 'no-store')
    t.equal(none.headers['x-cc-gateway-version'], VERSION)
    const star = await req(`${url}/managed/settings`, { headers: { ...NOBODY, 'if-none-match': '*' } })
    t.equal(star.status, 404)
    const anon = await req(`${url}/managed/settings`)
    t.equal(anon.status, 401, 'a bearer is required')
    t.equal(anon.headers['x-should-retry'], 'false')
  })

  await t.test('a Claude Desktop session is not served cli settings', async (t) => {
    const r = await req(`${url}/managed/settings`, { headers: { ...ALICE, ...DESKTOP_UA } })
    t.equal(r.status, 404)
    t.equal(r.headers['cache-control'], 'no-store')
    t.match(r.json().error.message, /not served to Claude Desktop sessions/)
    const cli = await req(`${url}/managed/settings`, { headers: { ...ALICE, 'user-agent': 'claude-cli/2.1.328 (external, cli)' } })
    t.equal(cli.status, 200)
  })

  await t.test('/v1/models lists what each group may request', async (t) => {
    const ids = async (h: Record<string, string>): Promise<string[]> => {
      const r = await req(`${url}/v1/models?limit=1000`, { headers: h })
      t.equal(r.status, 200)
      const body = r.json()
      t.same([body.has_more, body.first_id, body.last_id], [false, null, null])
      for (const m of body.data) t.same(Object.keys(m).slice(0, 3), ['type', 'id', 'display_name'])
      return body.data.map((m: { id: string }) => m.id)
    }
    const bob = await ids(BOB)
    const alice = await ids(ALICE)
    const all = await ids(NOBODY)
    t.ok(bob.length > 0 && bob.every(id => id.includes('haiku')), `contractors see haiku only: ${bob.join(', ')}`)
    t.ok(alice.includes('claude-opus-4-8'))
    t.ok(alice.some(id => id.includes('sonnet')))
    t.notOk(alice.some(id => id.includes('haiku') || id === 'claude-opus-4-7'), `eng: ${alice.join(', ')}`)
    t.ok(all.length > alice.length && all.length > bob.length, 'no policy: every model')
    t.same(await ids(bearer('again@contractor.example', ['contractors'])), bob, 'same group, same list')
    t.equal((await req(`${url}/v1/models`)).status, 401)
  })

  await t.test('/user/bootstrap for a policy with a desktop block, 404s otherwise', async (t) => {
    const r = await req(`${url}/user/bootstrap`, { headers: ALICE })
    t.equal(r.status, 200)
    t.equal(r.headers['cache-control'], 'no-store')
    t.equal(r.headers.pragma, 'no-cache')
    t.equal(r.headers['x-gateway-spend-admin'], 'false')
    const body = r.json()
    t.equal(body.inferenceProvider, 'gateway')
    t.equal(body.inferenceGatewayBaseUrl, url)
    t.equal(body.inferenceCredentialKind, 'interactive')
    t.ok(body.inferenceModels.some((m: { name: string }) => m.name === 'claude-opus-4-8'))
    t.notOk(body.inferenceModels.some((m: { name: string }) => m.name.includes('haiku')))
    t.same(body.disabledBuiltinTools, ['Bash'])
    t.notOk('inferenceGatewayManagedClaudeCode' in body, 'cli settings do not manage the Code tab')
    t.ok(body.expiresAt > Date.now() / 1000)
    const bob = await req(`${url}/user/bootstrap`, { headers: BOB })
    t.equal(bob.status, 404)
    t.match(bob.json().error.message, /no "desktop:" block/)
    t.equal(bob.headers['cache-control'], 'no-store')
    const none = await req(`${url}/user/bootstrap`, { headers: NOBODY })
    t.equal(none.status, 404)
    t.match(none.json().error.message, /no managed policy applies to you/)
  })
})

t.test('code policies with a catch-all, and a gateway without managed settings', async (t) => {
  const { url } = await startTestGateway(t, {
    config: c => {
      c.managed = {
        policies: [
          { match: { groups: ['eng'] }, code: { env: { TEAM: 'eng' } } },
          { match: {}, code: { env: { BASE: '1' }, availableModels: ['sonnet'] }, desktop: {} },
        ],
      }
    },
  })
  const a = await req(`${url}/managed/settings`, { headers: { ...ALICE, ...DESKTOP_UA } })
  t.equal(a.status, 200, 'code settings reach Claude Desktop sessions')
  t.same(a.json().settings, { env: { BASE: '1', TEAM: 'eng' }, availableModels: ['sonnet'] }, 'merged onto the catch-all')
  const star = await req(`${url}/managed/settings`, { headers: { ...ALICE, ...DESKTOP_UA, 'if-none-match': '*' } })
  t.equal(star.status, 304, 'a code policy answers the probe with 304: these settings must not be missing')
  t.equal(star.headers['cache-control'], 'no-store')
  t.equal(star.headers['x-cc-gateway-version'], VERSION)
  const cond = await req(`${url}/managed/settings`, { headers: { ...NOBODY, 'if-none-match': a.headers.etag as string } })
  t.equal(cond.status, 200, 'the catch-all has its own checksum')
  const boot = await req(`${url}/user/bootstrap`, { headers: ALICE })
  t.equal(boot.status, 200, 'the catch-all desktop block opts every policy in')
  t.equal(boot.json().inferenceGatewayManagedClaudeCode, true)
  t.equal(boot.headers['x-gateway-spend-admin'], 'false', 'no admin groups configured')

  const plain = await startTestGateway(t, { idp: undefined, config: () => {} })
  const none = await req(`${plain.url}/managed/settings`, { headers: ALICE })
  t.equal(none.status, 404)
  t.match(none.json().error.message, /no managed settings are configured/)
  t.equal(none.headers['cache-control'], 'no-store')
  const boot2 = await req(`${plain.url}/user/bootstrap`, { headers: ALICE })
  t.equal(boot2.status, 404)
  t.match(boot2.json().error.message, /Claude Desktop is not set up on this gateway/)
  const models = await req(`${plain.url}/v1/models`, { headers: ALICE })
  t.equal(models.status, 200)
  t.ok(models.json().data.length > 0)
})
