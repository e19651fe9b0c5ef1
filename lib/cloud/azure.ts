/**
 * Microsoft Entra ID (Azure AD) tokens for `foundry` upstreams with `auth.use_azure_ad: true`,
 * scope `https://cognitiveservices.azure.com/.default`. The sources DefaultAzureCredential tries
 * on a server, in its order (the first one configured is used and remembered):
 *
 *   1. client secret: `AZURE_TENANT_ID`, `AZURE_CLIENT_ID`, `AZURE_CLIENT_SECRET` → the tenant's
 *      OAuth 2.0 token endpoint, client-credentials grant;
 *   2. workload identity (AKS): `AZURE_FEDERATED_TOKEN_FILE` (+ tenant and client id) → the same
 *      endpoint with the projected token as a client assertion, re-read on every refresh;
 *   3. managed identity: App Service / Functions (`IDENTITY_ENDPOINT` + `IDENTITY_HEADER`), else
 *      the VM instance metadata endpoint (169.254.169.254), `AZURE_CLIENT_ID` picking a
 *      user-assigned identity.
 *
 * `AZURE_AUTHORITY_HOST` changes the login host (sovereign clouds); `AZURE_POD_IDENTITY_AUTHORITY_HOST`
 * the metadata host. Developer-machine sources (Azure CLI, azd, VS Code) are not tried: a gateway
 * runs as a service. Tokens are cached per worker and refreshed five minutes before expiry.
 *
 * Why not @azure/identity: it would pull MSAL and the Azure core stack into a gateway that needs
 * three small HTTP calls; these are tested against local fakes of each endpoint.
 */
import { readFileSync } from 'node:fs'
import { ops, describeError } from '../log.js'
import { cachedBearer, type BearerSource } from './bearer.js'
import { call, CallError, excerpt, json } from './http.js'
import type { Expiring } from './token-cache.js'

export const COGNITIVE_SCOPE = 'https://cognitiveservices.azure.com/.default'

class NotConfigured extends Error {}

const set = (v: string | undefined): v is string => v !== undefined && v.trim() !== ''

function authority (env: NodeJS.ProcessEnv): string {
  return (set(env.AZURE_AUTHORITY_HOST) ? env.AZURE_AUTHORITY_HOST : 'https://login.microsoftonline.com').replace(/\/+$/, '')
}

function expiry (j: Record<string, unknown>): number {
  const on = Number(j.expires_on)
  if (Number.isFinite(on) && on > 1e9) return on * 1000
  const inSec = Number(j.expires_in)
  return Date.now() + (Number.isFinite(inSec) && inSec > 0 ? inSec : 3600) * 1000
}

async function tokenEndpoint (env: NodeJS.ProcessEnv, tenant: string, params: Record<string, string>, what: string): Promise<Expiring<string>> {
  if (!/^[\w.-]+$/.test(tenant)) throw new Error(`AZURE_TENANT_ID ${JSON.stringify(tenant)} is not a tenant id or domain`)
  const body = new URLSearchParams(params).toString()
  const url = `${authority(env)}/${tenant}/oauth2/v2.0/token`
  const r = await call(url, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' }, body, timeoutMs: 10_000, env })
  const j = r.text.trim().startsWith('{') ? json(r, what) : {}
  if (r.status !== 200 || typeof j.access_token !== 'string') {
    const why = typeof j.error_description === 'string' ? j.error_description.split('\n')[0] : excerpt(r.text)
    throw new Error(`${what}: Entra ID answered ${r.status}${typeof j.error === 'string' ? ` ${j.error}` : ''}: ${why}`)
  }
  return { value: j.access_token, expiresAt: expiry(j) }
}

type Source = (env: NodeJS.ProcessEnv, scope: string) => Promise<Expiring<string>>

const clientSecret: Source = async (env, scope) => {
  if (!set(env.AZURE_TENANT_ID) || !set(env.AZURE_CLIENT_ID) || !set(env.AZURE_CLIENT_SECRET)) throw new NotConfigured()
  return await tokenEndpoint(env, env.AZURE_TENANT_ID, { grant_type: 'client_credentials', client_id: env.AZURE_CLIENT_ID, client_secret: env.AZURE_CLIENT_SECRET, scope }, 'Azure client secret credential')
}

const workloadIdentity: Source = async (env, scope) => {
  const file = env.AZURE_FEDERATED_TOKEN_FILE
  if (!set(file)) throw new NotConfigured()
  if (!set(env.AZURE_TENANT_ID) || !set(env.AZURE_CLIENT_ID)) throw new Error('AZURE_FEDERATED_TOKEN_FILE is set but AZURE_TENANT_ID or AZURE_CLIENT_ID is not')
  let assertion: string
  try { assertion = readFileSync(file, 'utf8').trim() } catch (err) { throw new Error(`cannot read AZURE_FEDERATED_TOKEN_FILE ${file}: ${describeError(err)}`) }
  return await tokenEndpoint(env, env.AZURE_TENANT_ID, {
    grant_type: 'client_credentials',
    client_id: env.AZURE_CLIENT_ID,
    client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
    client_assertion: assertion,
    scope,
  }, 'Azure workload identity')
}

const managedIdentity: Source = async (env, scope) => {
  const resource = scope.replace(/\/\.default$/, '')
  const clientId = set(env.AZURE_CLIENT_ID) ? env.AZURE_CLIENT_ID : undefined
  if (set(env.IDENTITY_ENDPOINT) && set(env.IDENTITY_HEADER)) {
    const u = new URL(env.IDENTITY_ENDPOINT)
    u.searchParams.set('api-version', '2019-08-01')
    u.searchParams.set('resource', resource)
    if (clientId !== undefined) u.searchParams.set('client_id', clientId)
    const r = await call(u.toString(), { headers: { 'x-identity-header': env.IDENTITY_HEADER, metadata: 'true' }, timeoutMs: 10_000, env, metadata: true })
    const j = json(r, 'the App Service identity endpoint')
    if (r.status !== 200 || typeof j.access_token !== 'string') throw new Error(`App Service managed identity answered ${r.status}: ${excerpt(r.text)}`)
    return { value: j.access_token, expiresAt: expiry(j) }
  }
  const host = (set(env.AZURE_POD_IDENTITY_AUTHORITY_HOST) ? env.AZURE_POD_IDENTITY_AUTHORITY_HOST : 'http://169.254.169.254').replace(/\/+$/, '')
  const u = new URL(`${host}/metadata/identity/oauth2/token`)
  u.searchParams.set('api-version', '2018-02-01')
  u.searchParams.set('resource', resource)
  if (clientId !== undefined) u.searchParams.set('client_id', clientId)
  let r
  try {
    r = await call(u.toString(), { headers: { metadata: 'true' }, timeoutMs: 3_000, env, metadata: true })
  } catch (err) {
    if (err instanceof CallError) {
      throw new Error('no Azure credential found: set AZURE_TENANT_ID/AZURE_CLIENT_ID/AZURE_CLIENT_SECRET, use AKS workload identity (AZURE_FEDERATED_TOKEN_FILE), ' +
        `or run where a managed identity is available (the instance metadata endpoint did not answer: ${err.message})`)
    }
    throw err
  }
  const j = r.text.trim().startsWith('{') ? json(r, 'the instance metadata identity endpoint') : {}
  if (r.status !== 200 || typeof j.access_token !== 'string') {
    throw new Error(`managed identity (instance metadata) answered ${r.status}: ${typeof j.error_description === 'string' ? j.error_description : excerpt(r.text)}` +
      (r.status === 400 ? ' — is a managed identity assigned to this VM (and AZURE_CLIENT_ID right for a user-assigned one)?' : ''))
  }
  return { value: j.access_token, expiresAt: expiry(j) }
}

const CHAIN: ReadonlyArray<[string, Source]> = [
  ['client secret', clientSecret],
  ['workload identity', workloadIdentity],
  ['managed identity', managedIdentity],
]

/** An Entra ID token source for `scope`, cached and refreshed (one per upstream). */
export function azureBearer (label: string, env: NodeJS.ProcessEnv = process.env, scope = COGNITIVE_SCOPE): BearerSource {
  let chosen = -1
  return cachedBearer(async () => {
    if (chosen >= 0) return await (CHAIN[chosen] as [string, Source])[1](env, scope)
    for (let i = 0; i < CHAIN.length; i++) {
      try {
        const t = await (CHAIN[i] as [string, Source])[1](env, scope)
        chosen = i
        return t
      } catch (err) {
        if (err instanceof NotConfigured) continue
        throw new Error(`${label}: ${describeError(err)}`, { cause: err })
      }
    }
    throw new Error(`${label}: no Azure credential source is configured`)
  }, { onBackgroundError: (err) => { ops.warn(`${label}: Entra ID token refresh failed; still using the current token: ${describeError(err)}`) } })
}
