/**
 * AWS credentials for SigV4: explicit keys from gateway.yaml, or the standard AWS default chain,
 * tried in this order (the first source that is configured wins and is remembered):
 *
 *   1. environment: `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` (+ `AWS_SESSION_TOKEN`);
 *   2. shared files: `[<AWS_PROFILE|default>]` in `~/.aws/credentials` (or
 *      `AWS_SHARED_CREDENTIALS_FILE`) and `~/.aws/config` — static keys only;
 *   3. web identity (EKS IRSA): `AWS_WEB_IDENTITY_TOKEN_FILE` + `AWS_ROLE_ARN` → STS
 *      AssumeRoleWithWebIdentity, the token file re-read on every refresh;
 *   4. container credentials (ECS task role, EKS Pod Identity): `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI`
 *      or `AWS_CONTAINER_CREDENTIALS_FULL_URI` with `AWS_CONTAINER_AUTHORIZATION_TOKEN[_FILE]`;
 *   5. EC2 instance metadata (IMDSv2: a session token by PUT, then the role's credentials), unless
 *      `AWS_EC2_METADATA_DISABLED=true`. A token request that times out is almost always the
 *      instance's hop limit of 1 dropping the answer before it reaches a container; the error says so.
 *
 * Credentials are cached per worker thread and refreshed five minutes before they expire (one
 * refresh for all concurrent callers; the old credentials keep serving while it runs). Upstreams of
 * the same region share one default chain. `CLAUDE_CODE_SKIP_AWS_CRED_CACHE` turns that shared
 * cache off: each upstream resolves its own credentials, and long-lived keys (environment, shared
 * files) are read again on every request, so rotating them takes effect at once. Temporary
 * credentials (STS, container, instance metadata) are still kept until shortly before they expire,
 * never fetched per request.
 */
import { readFileSync } from 'node:fs'
import { homedir } from 'node:os'
import { join } from 'node:path'
import type { AwsCredentials } from './aws-sign.js'
import { assumeRoleWithWebIdentity } from './aws-sts.js'
import { call, CallError, excerpt, json } from './http.js'
import { Cached } from './token-cache.js'
import { ops, describeError } from '../log.js'

export type { AwsCredentials } from './aws-sign.js'

/** What signing code needs: credentials now if fresh, else a promise; and a way to drop them. */
export interface AwsCredentialProvider {
  peek (): AwsCredentials | null
  get (): Promise<AwsCredentials>
  invalidate (): void
}

/** A source that is not set up in this environment (the chain moves on to the next one). */
class NotConfigured extends Error {}

type Source = (ctx: ChainContext) => Promise<AwsCredentials>

interface ChainContext {
  readonly region: string
  readonly env: NodeJS.ProcessEnv
}

const set = (v: string | undefined): v is string => v !== undefined && v.trim() !== ''

// ---- 1. environment ------------------------------------------------------------------------------

const fromEnv: Source = async ({ env }) => {
  const id = env.AWS_ACCESS_KEY_ID
  const secret = env.AWS_SECRET_ACCESS_KEY
  if (!set(id) || !set(secret)) throw new NotConfigured()
  const expiry = env.AWS_CREDENTIAL_EXPIRATION
  return { accessKeyId: id, secretAccessKey: secret, sessionToken: set(env.AWS_SESSION_TOKEN) ? env.AWS_SESSION_TOKEN : undefined, expiresAt: set(expiry) ? Date.parse(expiry) : undefined, source: 'environment' }
}

// ---- 2. shared files ---------------------------------------------------------------------------

/** Sections of an AWS INI file: `[name]` or `[profile name]` → key/value pairs. */
export function parseIni (text: string, configFile: boolean): Map<string, Record<string, string>> {
  const out = new Map<string, Record<string, string>>()
  let cur: Record<string, string> | null = null
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.replace(/^\s+|\s+$/g, '')
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue
    const sec = /^\[([^\]]+)\]$/.exec(line)
    if (sec !== null) {
      let name = (sec[1] as string).trim()
      if (configFile && name.startsWith('profile ')) name = name.slice(8).trim()
      else if (configFile && name !== 'default') { cur = null; continue } // sso-session, services…
      cur = out.get(name) ?? {}
      out.set(name, cur)
      continue
    }
    const kv = /^([^=]+?)\s*=\s*(.*)$/.exec(line)
    if (kv !== null && cur !== null) cur[(kv[1] as string).toLowerCase()] = kv[2] as string
  }
  return out
}

function readIni (path: string, configFile: boolean): Map<string, Record<string, string>> {
  try { return parseIni(readFileSync(path, 'utf8'), configFile) } catch { return new Map() }
}

const fromSharedFiles: Source = async ({ env }) => {
  const home = env.HOME ?? homedir()
  const profile = env.AWS_PROFILE ?? env.AWS_DEFAULT_PROFILE ?? 'default'
  const creds = readIni(env.AWS_SHARED_CREDENTIALS_FILE ?? join(home, '.aws', 'credentials'), false).get(profile)
  const conf = readIni(env.AWS_CONFIG_FILE ?? join(home, '.aws', 'config'), true).get(profile)
  const p = { ...conf, ...creds }
  if (creds === undefined && conf === undefined) {
    if (set(env.AWS_PROFILE)) throw new Error(`AWS_PROFILE=${profile}, but no such profile is in the shared credentials or config file`)
    throw new NotConfigured()
  }
  if (set(p.aws_access_key_id) && set(p.aws_secret_access_key)) {
    return { accessKeyId: p.aws_access_key_id, secretAccessKey: p.aws_secret_access_key, sessionToken: set(p.aws_session_token) ? p.aws_session_token : undefined, source: `shared file profile ${profile}` }
  }
  const kind = set(p.role_arn) ? 'role_arn' : set(p.sso_session) || set(p.sso_start_url) ? 'SSO' : set(p.credential_process) ? 'credential_process' : null
  if (kind !== null) throw new Error(`AWS profile ${profile} uses ${kind}, which Weir does not run; give the gateway static keys, a role (IRSA, ECS task role, instance profile) or use assume_role in gateway.yaml`)
  throw new NotConfigured()
}

// ---- 3. web identity -----------------------------------------------------------------------------

const fromWebIdentity: Source = async ({ env, region }) => {
  const file = env.AWS_WEB_IDENTITY_TOKEN_FILE
  const role = env.AWS_ROLE_ARN
  if (!set(file) || !set(role)) throw new NotConfigured()
  let token: string
  try { token = readFileSync(file, 'utf8').trim() } catch (err) { throw new Error(`cannot read AWS_WEB_IDENTITY_TOKEN_FILE ${file}: ${describeError(err)}`) }
  const session = set(env.AWS_ROLE_SESSION_NAME) ? env.AWS_ROLE_SESSION_NAME : `weir-${Date.now()}`
  return await assumeRoleWithWebIdentity({ region, roleArn: role, sessionName: session, token, env })
}

// ---- 4. container credentials ----------------------------------------------------------------

const CONTAINER_HOSTS = new Set(['169.254.170.2', '169.254.170.23', '[fd00:ec2::23]', 'localhost'])

function remoteCreds (j: Record<string, unknown>, source: string): AwsCredentials {
  const id = j.AccessKeyId
  const secret = j.SecretAccessKey
  if (typeof id !== 'string' || typeof secret !== 'string') throw new Error(`${source}: the answer has no AccessKeyId/SecretAccessKey`)
  const exp = typeof j.Expiration === 'string' ? Date.parse(j.Expiration) : NaN
  return { accessKeyId: id, secretAccessKey: secret, sessionToken: typeof j.Token === 'string' ? j.Token : undefined, expiresAt: Number.isFinite(exp) ? exp : undefined, source }
}

const fromContainer: Source = async ({ env }) => {
  let url: string
  if (set(env.AWS_CONTAINER_CREDENTIALS_RELATIVE_URI)) {
    url = `http://169.254.170.2${env.AWS_CONTAINER_CREDENTIALS_RELATIVE_URI}`
  } else if (set(env.AWS_CONTAINER_CREDENTIALS_FULL_URI)) {
    url = env.AWS_CONTAINER_CREDENTIALS_FULL_URI
    const u = new URL(url)
    if (u.protocol !== 'https:' && !(u.protocol === 'http:' && (CONTAINER_HOSTS.has(u.hostname) || u.hostname.startsWith('127.') || u.hostname === '[::1]'))) {
      throw new Error(`AWS_CONTAINER_CREDENTIALS_FULL_URI must be https or a loopback/ECS/EKS address, not ${u.host}`)
    }
  } else {
    throw new NotConfigured()
  }
  const headers: Record<string, string> = { accept: 'application/json' }
  if (set(env.AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE)) {
    try { headers.authorization = readFileSync(env.AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE, 'utf8').trim() } catch (err) {
      throw new Error(`cannot read AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE: ${describeError(err)}`)
    }
  } else if (set(env.AWS_CONTAINER_AUTHORIZATION_TOKEN)) {
    headers.authorization = env.AWS_CONTAINER_AUTHORIZATION_TOKEN
  }
  let r
  try { r = await call(url, { headers, timeoutMs: 2_000, env, metadata: true }) } catch { r = await call(url, { headers, timeoutMs: 2_000, env, metadata: true }) } // one retry, as the SDKs do
  if (r.status !== 200) throw new Error(`container credentials endpoint answered ${r.status}: ${excerpt(r.text)}`)
  return remoteCreds(json(r, 'the container credentials endpoint'), 'container credentials')
}

// ---- 5. EC2 instance metadata ----------------------------------------------------------------

const IMDS_TIMEOUT_MS = 1_000
const HOP_HINT = 'no answer to the IMDSv2 token request (PUT /latest/api/token). If the gateway runs in a container on EC2, ' +
  "the instance's metadata hop limit is probably 1, which drops the answer before it reaches the container: raise it to 2 " +
  '(aws ec2 modify-instance-metadata-options --instance-id <id> --http-put-response-hop-limit 2), or give the task or pod ' +
  'its own role (ECS task role, EKS IRSA or Pod Identity), or set AWS_EC2_METADATA_DISABLED=true and configure keys'

function imdsBase (env: NodeJS.ProcessEnv): string {
  if (set(env.AWS_EC2_METADATA_SERVICE_ENDPOINT)) return env.AWS_EC2_METADATA_SERVICE_ENDPOINT.replace(/\/+$/, '')
  return env.AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE?.toLowerCase() === 'ipv6' ? 'http://[fd00:ec2::254]' : 'http://169.254.169.254'
}

const fromInstanceMetadata: Source = async ({ env }) => {
  if (env.AWS_EC2_METADATA_DISABLED?.toLowerCase() === 'true') throw new NotConfigured()
  const base = imdsBase(env)
  const headers: Record<string, string> = {}
  try {
    const t = await call(`${base}/latest/api/token`, { method: 'PUT', headers: { 'x-aws-ec2-metadata-token-ttl-seconds': '21600' }, timeoutMs: IMDS_TIMEOUT_MS, env, metadata: true })
    if (t.status === 200) headers['x-aws-ec2-metadata-token'] = t.text.trim()
    else if (t.status === 403 || t.status === 404 || t.status === 405) {
      if (env.AWS_EC2_METADATA_V1_DISABLED?.toLowerCase() === 'true') throw new Error(`instance metadata refused an IMDSv2 token (${t.status}) and AWS_EC2_METADATA_V1_DISABLED is set`)
    } else throw new Error(`instance metadata token request answered ${t.status}`)
  } catch (err) {
    if (err instanceof CallError && err.timedOut) throw new Error(HOP_HINT)
    if (err instanceof CallError) throw new Error(`no AWS credentials found: not in the environment, the shared files, web identity or container settings, and the instance metadata service is unreachable (${err.message})`)
    throw err
  }
  const list = await call(`${base}/latest/meta-data/iam/security-credentials/`, { headers, timeoutMs: IMDS_TIMEOUT_MS, env, metadata: true })
  if (list.status === 404) throw new Error('this EC2 instance has no IAM role (instance profile) attached')
  if (list.status !== 200) throw new Error(`instance metadata answered ${list.status} for the role list`)
  const role = list.text.split('\n')[0]?.trim() ?? ''
  if (role === '') throw new Error('this EC2 instance has no IAM role (instance profile) attached')
  const r = await call(`${base}/latest/meta-data/iam/security-credentials/${encodeURIComponent(role)}`, { headers, timeoutMs: IMDS_TIMEOUT_MS, env, metadata: true })
  if (r.status !== 200) throw new Error(`instance metadata answered ${r.status} for role ${role}`)
  const j = json(r, 'instance metadata')
  if (j.Code !== undefined && j.Code !== 'Success') throw new Error(`instance metadata reports ${String(j.Code)} for role ${role}: ${String(j.Message ?? '')}`)
  return remoteCreds(j, `instance profile ${role}`)
}

const CHAIN: ReadonlyArray<[string, Source]> = [
  ['environment', fromEnv],
  ['shared files', fromSharedFiles],
  ['web identity', fromWebIdentity],
  ['container credentials', fromContainer],
  ['instance metadata', fromInstanceMetadata],
]

/** Resolve credentials once through the chain; `start` skips to a source that worked before. */
async function resolveChain (ctx: ChainContext, start: { index: number }): Promise<AwsCredentials> {
  if (start.index >= 0) {
    try { return await (CHAIN[start.index] as [string, Source])[1](ctx) } catch (err) {
      if (!(err instanceof NotConfigured)) ops.warn(`AWS credentials from ${(CHAIN[start.index] as [string, Source])[0]} failed (${describeError(err)}); walking the default chain again`)
      start.index = -1
    }
  }
  for (let i = 0; i < CHAIN.length; i++) {
    const [, src] = CHAIN[i] as [string, Source]
    try {
      const c = await src(ctx)
      start.index = i
      return c
    } catch (err) {
      if (err instanceof NotConfigured) continue
      throw err
    }
  }
  throw new Error('no AWS credentials found: set keys in gateway.yaml or the environment, or run the gateway with an AWS role')
}

/** `rereadStatic`: long-lived keys count as already expired, so each request reads them again. */
function provider (fetch: () => Promise<AwsCredentials>, rereadStatic: boolean, label: string): AwsCredentialProvider {
  const c = new Cached<AwsCredentials>(async () => {
    const v = await fetch()
    return { value: v, expiresAt: v.expiresAt ?? (rereadStatic ? 0 : undefined) }
  }, { onBackgroundError: (err) => { ops.warn(`AWS credential refresh (${label}) failed; still using the current credentials: ${describeError(err)}`) } })
  return { peek: () => c.peek(), get: () => c.get(), invalidate: () => { c.invalidate() } }
}

/** Keys from gateway.yaml: used as they are. */
export function staticCredentials (id: string, secret: string, token?: string): AwsCredentialProvider {
  const v: AwsCredentials = { accessKeyId: id, secretAccessKey: secret, sessionToken: token, source: 'gateway.yaml' }
  return { peek: () => v, get: async () => v, invalidate: () => {} }
}

const chains = new Map<string, AwsCredentialProvider>()

export function skipCache (env: NodeJS.ProcessEnv): boolean {
  const v = env.CLAUDE_CODE_SKIP_AWS_CRED_CACHE
  return v !== undefined && v !== '' && v !== '0' && v.toLowerCase() !== 'false'
}

/**
 * The default chain for `region`, shared by this worker's upstreams in that region (one per caller
 * with CLAUDE_CODE_SKIP_AWS_CRED_CACHE, or when `env` is not the process environment).
 */
export function defaultChain (region: string, env: NodeJS.ProcessEnv = process.env): AwsCredentialProvider {
  const skip = skipCache(env)
  const shared = env === process.env && !skip
  let p = shared ? chains.get(region) : undefined
  if (p === undefined) {
    const start = { index: -1 }
    p = provider(() => resolveChain({ region, env }, start), skip, `default chain, ${region}`)
    if (shared) chains.set(region, p)
  }
  return p
}

/** Wrap a fetch (e.g. STS AssumeRole) in the same per-worker cache. */
export function cachedCredentials (fetch: () => Promise<AwsCredentials>, label: string): AwsCredentialProvider {
  return provider(fetch, false, label)
}
