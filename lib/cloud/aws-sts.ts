/**
 * The two AWS STS calls Weir makes, on the regional STS endpoint (Query protocol, XML answers):
 *
 * - `AssumeRoleWithWebIdentity` — EKS IRSA and other web-identity setups: the projected service
 *   account token from `AWS_WEB_IDENTITY_TOKEN_FILE` is exchanged for role credentials. Unsigned.
 * - `AssumeRole` — `assume_role` in gateway.yaml: SigV4-signed with the source credentials.
 *
 * The endpoint is `https://sts.<region>.amazonaws.com` unless `AWS_ENDPOINT_URL_STS` (or
 * `AWS_ENDPOINT_URL`) names another, as the AWS SDKs do. Error answers keep AWS's code and message
 * for the operator's log; they never reach a client.
 */
import { sigv4, type AwsCredentials } from './aws-sign.js'
import { call, excerpt } from './http.js'

const VERSION = '2011-06-15'
const TIMEOUT_MS = 10_000

export function stsEndpoint (region: string, env: NodeJS.ProcessEnv): string {
  const o = env.AWS_ENDPOINT_URL_STS ?? env.AWS_ENDPOINT_URL
  if (o !== undefined && o !== '') return o.replace(/\/+$/, '')
  if (!/^[a-z0-9-]+$/.test(region)) throw new Error(`region ${JSON.stringify(region)} is not a plain AWS region name`)
  return `https://sts.${region}.amazonaws.com`
}

/** The text of the first `<name>…</name>` element (XML entities decoded), or undefined. */
export function xmlText (xml: string, name: string): string | undefined {
  const m = new RegExp(`<${name}>([\\s\\S]*?)</${name}>`).exec(xml)
  if (m === null) return undefined
  return (m[1] as string).trim()
    .replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&apos;/g, "'").replace(/&#(\d+);/g, (_s, d: string) => String.fromCharCode(Number(d)))
    .replace(/&amp;/g, '&')
}

function credentialsFrom (xml: string, source: string): AwsCredentials {
  const accessKeyId = xmlText(xml, 'AccessKeyId')
  const secretAccessKey = xmlText(xml, 'SecretAccessKey')
  const sessionToken = xmlText(xml, 'SessionToken')
  const exp = xmlText(xml, 'Expiration')
  if (accessKeyId === undefined || secretAccessKey === undefined || sessionToken === undefined || exp === undefined) {
    throw new Error(`${source}: the STS answer has no complete Credentials element`)
  }
  const expiresAt = Date.parse(exp)
  if (!Number.isFinite(expiresAt)) throw new Error(`${source}: the STS answer has an unreadable Expiration`)
  return { accessKeyId, secretAccessKey, sessionToken, expiresAt, source }
}

function stsFailure (what: string, status: number, text: string): Error {
  const code = xmlText(text, 'Code')
  const message = xmlText(text, 'Message')
  return new Error(`${what} failed with HTTP ${status}${code !== undefined ? ` ${code}` : ''}: ${message ?? excerpt(text)}`)
}

const form = (p: Record<string, string | undefined>): string =>
  Object.entries(p).filter((e): e is [string, string] => e[1] !== undefined).map(([k, v]) => `${k}=${encodeURIComponent(v)}`).join('&')

export interface WebIdentityParams {
  readonly region: string
  readonly roleArn: string
  readonly sessionName: string
  readonly token: string
  readonly env: NodeJS.ProcessEnv
}

export async function assumeRoleWithWebIdentity (p: WebIdentityParams): Promise<AwsCredentials> {
  const endpoint = stsEndpoint(p.region, p.env)
  const body = form({ Action: 'AssumeRoleWithWebIdentity', Version: VERSION, RoleArn: p.roleArn, RoleSessionName: p.sessionName, WebIdentityToken: p.token })
  const r = await call(endpoint + '/', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8', accept: 'text/xml' }, body, timeoutMs: TIMEOUT_MS, env: p.env })
  if (r.status !== 200) throw stsFailure(`sts:AssumeRoleWithWebIdentity on ${p.roleArn}`, r.status, r.text)
  return credentialsFrom(r.text, `web identity (${p.roleArn})`)
}

export interface AssumeRoleParams {
  readonly region: string
  readonly roleArn: string
  readonly sessionName: string
  readonly externalId?: string | undefined
  readonly durationSeconds?: number
  readonly source: AwsCredentials
  readonly env: NodeJS.ProcessEnv
}

export async function assumeRole (p: AssumeRoleParams): Promise<AwsCredentials> {
  const endpoint = stsEndpoint(p.region, p.env)
  const body = form({
    Action: 'AssumeRole',
    Version: VERSION,
    RoleArn: p.roleArn,
    RoleSessionName: p.sessionName,
    ExternalId: p.externalId,
    DurationSeconds: String(p.durationSeconds ?? 3600),
  })
  const u = new URL(endpoint)
  const path = (u.pathname.replace(/\/+$/, '') || '') + '/'
  const headers = sigv4({ origin: u.origin, path, headers: { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' }, body, service: 'sts', region: p.region }, p.source)
  const r = await call(u.origin + path, { method: 'POST', headers, body, timeoutMs: TIMEOUT_MS, env: p.env })
  if (r.status !== 200) throw stsFailure(`sts:AssumeRole on ${p.roleArn}`, r.status, r.text)
  return credentialsFrom(r.text, `assume_role ${p.roleArn} (${p.sessionName})`)
}
