/**
 * A stand-in for the CRI token issuer in tests: ES256 key pairs made by jose, a JWKS document
 * served over a real loopback socket (`/jwks.json`, with a settable Cache-Control and an outage
 * switch), and a minter for `typ: cri+jwt` tokens.
 */
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK, type JWTPayload } from 'jose'

export const ORG = '0b9a4c52-6f1e-4a77-9d35-2c8e51f0a6b3'
export const AUDIENCE = 'weir-test-gateway'

export interface Key { kid: string, priv: CryptoKey, jwk: JWK }

export async function makeKey (kid: string, alg: 'ES256' | 'ES384' = 'ES256'): Promise<Key> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true })
  return { kid, priv: privateKey, jwk: { ...await exportJWK(publicKey), kid, alg, use: 'sig' } }
}

export interface Issuer {
  url: string
  issuer: string
  /** Keys published in the JWKS. */
  published: Key[]
  cacheControl: string | undefined
  down: boolean
  hits: number
  mint (key: Key, claims?: JWTPayload, opts?: { alg?: string, typ?: string, omit?: string[] }): Promise<string>
  close (): Promise<void>
}

export async function startIssuer (): Promise<Issuer> {
  let server: Server | null = null
  const state: Issuer = {
    url: '',
    issuer: '',
    published: [],
    cacheControl: undefined,
    down: false,
    hits: 0,
    async mint (key, claims = {}, opts = {}) {
      const now = Math.floor(Date.now() / 1000)
      const body: JWTPayload = { iss: state.issuer, aud: AUDIENCE, sub: 'user-123', org: ORG, scope: 'inference', iat: now, exp: now + 600, ...claims }
      for (const k of opts.omit ?? []) delete body[k]
      return await new SignJWT(body).setProtectedHeader({ alg: opts.alg ?? 'ES256', typ: opts.typ ?? 'cri+jwt', kid: key.kid }).sign(key.priv)
    },
    async close () { await new Promise<void>((resolve) => { server?.close(() => resolve()); server?.closeAllConnections() }) },
  }
  server = createServer((req, res) => {
    if (req.url !== '/cri/jwks.json') { res.writeHead(404).end(); return }
    state.hits++
    if (state.down) { res.writeHead(503).end('down'); return }
    const headers: Record<string, string> = { 'content-type': 'application/json' }
    if (state.cacheControl !== undefined) headers['cache-control'] = state.cacheControl
    res.writeHead(200, headers).end(JSON.stringify({ keys: state.published.map((k) => k.jwk) }))
  })
  await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as AddressInfo).port
  state.issuer = `http://127.0.0.1:${port}/cri`
  state.url = `http://127.0.0.1:${port}/cri/jwks.json`
  return state
}
