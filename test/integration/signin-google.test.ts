/**
 * `oidc.google_groups`: groups from the Admin SDK Directory API (domain-wide delegation), against a
 * local stand-in for Google's token endpoint and Directory API that checks the service account's
 * JWT-bearer assertion (signature, issuer, impersonated admin, scope) and pages its answers.
 */
import { generateKeyPairSync } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { decodeJwt, importSPKI, jwtVerify } from 'jose'
import t from 'tap'
import { startTestGateway } from '../helpers/gateway.js'
import { refresh, signIn } from '../auth/helpers/flow.js'

const decode = (jwt: string): Record<string, any> => JSON.parse(Buffer.from(jwt.split('.')[1] as string, 'base64url').toString('utf8')) // eslint-disable-line @typescript-eslint/no-explicit-any

t.test('Workspace groups come from the Directory API and gate sign-in and refresh', async (t) => {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
  const dir = mkdtempSync(join(tmpdir(), 'weir-google-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const saPath = join(dir, 'sa.json')
  writeFileSync(saPath, JSON.stringify({
    type: 'service_account',
    client_email: 'weir-groups@proj.iam.gserviceaccount.com',
    private_key: privateKey.export({ format: 'pem', type: 'pkcs8' }),
  }))
  const spki = await importSPKI(publicKey.export({ format: 'pem', type: 'spki' }) as string, 'RS256')

  const seen: { assertions: Array<Record<string, unknown>>, lookups: string[] } = { assertions: [], lookups: [] }
  let failFor = ''
  const google = createServer((req, res) => {
    let body = ''
    req.on('data', (d: Buffer) => { body += d.toString() })
    req.on('end', () => {
      void (async () => {
        const url = new URL(req.url ?? '/', 'http://x')
        res.setHeader('content-type', 'application/json')
        if (url.pathname === '/token' && req.method === 'POST') {
          const form = new URLSearchParams(body)
          try {
            if (form.get('grant_type') !== 'urn:ietf:params:oauth:grant-type:jwt-bearer') throw new Error('grant_type')
            const { payload } = await jwtVerify(form.get('assertion') ?? '', spki)
            seen.assertions.push(payload)
            res.end(JSON.stringify({ access_token: 'ya29.stand-in', expires_in: 3600, token_type: 'Bearer' }))
          } catch {
            res.statusCode = 400
            res.end(JSON.stringify({ error: 'invalid_grant' }))
          }
          return
        }
        if (url.pathname === '/groups' && req.headers.authorization === 'Bearer ya29.stand-in') {
          const user = url.searchParams.get('userKey') ?? ''
          seen.lookups.push(`${user}|${url.searchParams.get('pageToken') ?? ''}`)
          if (user === failFor) { res.statusCode = 500; res.end(JSON.stringify({ error: { code: 500, message: 'backend error' } })); return }
          const pages: Record<string, Array<Array<{ email: string }>>> = {
            'alice@example.com': [[{ email: 'Eng@Example.com' }], [{ email: 'all@example.com' }]],
            'bob@example.com': [[{ email: 'sales@example.com' }]],
          }
          const mine = pages[user] ?? [[]]
          const i = Number(url.searchParams.get('pageToken') ?? '0')
          res.end(JSON.stringify({ kind: 'admin#directory#groups', groups: mine[i], ...(i + 1 < mine.length ? { nextPageToken: String(i + 1) } : {}) }))
          return
        }
        res.statusCode = 401
        res.end('{}')
      })()
    })
  })
  await new Promise<void>((resolve) => google.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { google.closeAllConnections(); google.close() })
  const port = (google.address() as { port: number }).port
  const saved = { a: process.env.WEIR_GOOGLE_TOKEN_URL, b: process.env.WEIR_GOOGLE_DIRECTORY_URL }
  process.env.WEIR_GOOGLE_TOKEN_URL = `http://127.0.0.1:${port}/token`
  process.env.WEIR_GOOGLE_DIRECTORY_URL = `http://127.0.0.1:${port}/groups`
  t.teardown(() => {
    if (saved.a === undefined) delete process.env.WEIR_GOOGLE_TOKEN_URL; else process.env.WEIR_GOOGLE_TOKEN_URL = saved.a
    if (saved.b === undefined) delete process.env.WEIR_GOOGLE_DIRECTORY_URL; else process.env.WEIR_GOOGLE_DIRECTORY_URL = saved.b
  })

  const users = [
    { sub: 'g-alice', email: 'alice@example.com', name: 'Alice', groups: ['ignored-idp-group'] },
    { sub: 'g-bob', email: 'bob@example.com', name: 'Bob' },
  ]
  await t.rejects(startTestGateway(t, { users, config: (c) => { c.oidc.google_groups = { service_account_json_path: join(dir, 'missing.json'), admin_email: 'admin@example.com' } } }),
    /oidc\.google_groups: cannot read the service account key/, 'a missing key file stops boot')

  const g = await startTestGateway(t, {
    users,
    config: (c) => {
      c.oidc.google_groups = { service_account_json_path: saPath, admin_email: 'admin@example.com' }
      c.oidc.allowed_groups = ['eng@example.com']
    },
  })
  const a = await signIn(g.url)
  t.equal(a.token.status, 200)
  t.same(decode(a.token.json().access_token).groups, ['eng@example.com', 'all@example.com'], 'lower-cased, every page, the IdP claim ignored')
  t.same(seen.lookups, ['alice@example.com|', 'alice@example.com|1'])
  t.match(seen.assertions[0], { iss: 'weir-groups@proj.iam.gserviceaccount.com', sub: 'admin@example.com', scope: 'https://www.googleapis.com/auth/admin.directory.group.readonly' })
  t.ok(decodeJwt(a.token.json().access_token).exp)

  g.idp.setUser('bob@example.com')
  const b = await signIn(g.url)
  t.equal(b.page.status, 403, 'not in an allowed Workspace group')
  t.same(b.token.json(), { error: 'access_denied' })

  failFor = 'alice@example.com'
  const r = await refresh(g.url, a.token.json().refresh_token)
  t.equal(r.status, 503, 'a Directory failure at refresh is temporary, not a sign-out')
  t.same(r.json(), { error: 'temporarily_unavailable' })
  failFor = ''
  t.equal((await refresh(g.url, a.token.json().refresh_token)).status, 200)
  t.equal(seen.assertions.length, 1, 'the Google access token is cached between lookups')
})
