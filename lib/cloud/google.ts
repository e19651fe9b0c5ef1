/**
 * Google access tokens for Vertex and Claude Platform on Google Cloud, from google-auth-library.
 *
 * `auth.access_token` is sent as it is. Otherwise a `GoogleAuth` with the cloud-platform scope
 * finds the credential: the service-account key file at `auth.service_account_json`, or
 * Application Default Credentials (`GOOGLE_APPLICATION_CREDENTIALS`, the gcloud well-known file,
 * then the metadata server — GKE workload identity, Cloud Run, GCE). One `GoogleAuth` per key file
 * per worker thread; the library caches the token, and this wrapper keeps a copy so requests read
 * it without awaiting, refreshing four minutes before expiry (the library itself refreshes within
 * its last five, so the refresh always yields a new token).
 *
 * The library reaches the metadata server (169.254.169.254) with its own HTTP client, outside the
 * inference SSRF guard: workload identity needs exactly that address.
 *
 * google-auth-library is loaded (lib/cloud/sdk.ts) when `googleBearer` is first called, i.e. when
 * a Google upstream is built at boot or by the reload that adds it — never by a gateway without one.
 */
import type { GoogleAuth } from 'google-auth-library'
import { googleAuthLibrary } from './sdk.js'
import { ops, describeError } from '../log.js'
import { cachedBearer, staticBearer, type BearerSource } from './bearer.js'

export const CLOUD_PLATFORM_SCOPE = 'https://www.googleapis.com/auth/cloud-platform'

const auths = new Map<string, GoogleAuth>()

function googleAuth (keyFile: string | undefined, projectId: string | undefined): GoogleAuth {
  const key = `${keyFile ?? ''}\u0000${projectId ?? ''}`
  let a = auths.get(key)
  if (a === undefined) {
    const { GoogleAuth: Auth } = googleAuthLibrary()
    a = new Auth({ scopes: [CLOUD_PLATFORM_SCOPE], ...(keyFile !== undefined ? { keyFilename: keyFile } : {}), ...(projectId !== undefined ? { projectId } : {}) })
    auths.set(key, a)
  }
  return a
}

export interface GoogleAuthConfig {
  readonly service_account_json?: string | undefined
  readonly access_token?: string | undefined
}

export function googleBearer (cfg: GoogleAuthConfig, label: string, projectId?: string): BearerSource {
  if (cfg.access_token !== undefined && cfg.access_token !== '') return staticBearer(cfg.access_token)
  const keyFile = cfg.service_account_json !== undefined && cfg.service_account_json !== '' ? cfg.service_account_json : undefined
  const auth = googleAuth(keyFile, projectId)
  let forceNew = false
  const b = cachedBearer(async () => {
    let client
    try {
      client = await auth.getClient()
    } catch (err) {
      throw new Error(`${label}: no Google credentials (${keyFile !== undefined ? `service_account_json ${keyFile}` : 'Application Default Credentials'}): ${describeError(err)}`, { cause: err })
    }
    const held = (client as { credentials?: { expiry_date?: number | null } }).credentials
    if (forceNew && held !== undefined && held !== null) held.expiry_date = 1 // make the library fetch a new token
    forceNew = false
    let token: string | null | undefined
    try {
      token = (await client.getAccessToken()).token
    } catch (err) {
      throw new Error(`${label}: could not get a Google access token: ${describeError(err)}`, { cause: err })
    }
    if (token === null || token === undefined || token === '') throw new Error(`${label}: Google credentials returned no access token`)
    const exp = (client as { credentials?: { expiry_date?: number | null } }).credentials?.expiry_date
    return { value: token, expiresAt: typeof exp === 'number' && exp > 1 ? exp : Date.now() + 10 * 60_000 }
  }, {
    refreshBeforeMs: 4 * 60_000,
    onBackgroundError: (err) => { ops.warn(`${label}: Google token refresh failed; still using the current token: ${describeError(err)}`) },
  })
  // invalidation must also make the library itself drop its copy
  return { peek: () => b.peek(), get: () => b.get(), invalidate: () => { forceNew = true; b.invalidate() } }
}
