/**
 * How an AWS-hosted upstream (bedrock, mantle, anthropicAws) authenticates one request:
 * a bearer API key (`aws_bearer_token`), an `x-api-key` (Claude Platform on AWS), or SigV4 with
 * explicit keys, the default credential chain, or an `assume_role` session.
 *
 * `headers` returns the credential headers synchronously while cached credentials are fresh, so
 * signing adds no await on the hot path; otherwise a promise. Only the headers given are signed;
 * callers add unsigned ones (user agent, SDK telemetry) afterwards.
 */
import { RoleSessions, type AssumeRoleConfig } from '../../cloud/aws-assume-role.js'
import { defaultChain, staticCredentials, type AwsCredentialProvider } from '../../cloud/aws-credentials.js'
import { loadSigv4, sigv4, type AwsCredentials } from '../../cloud/aws-sign.js'
import type { Principal } from '../../session/token.js'

export interface AwsAuthConfig {
  readonly aws_access_key_id?: string | undefined
  readonly aws_secret_access_key?: string | undefined
  readonly aws_session_token?: string | undefined
  readonly aws_bearer_token?: string | undefined
  readonly api_key?: string | undefined
}

export interface SignableRequest {
  readonly origin: string
  readonly path: string
  readonly headers: Record<string, string>
  readonly body: Buffer
}

export interface AwsAuth {
  /** The headers to send (the given ones, signed, plus credential headers). */
  headers (req: SignableRequest, principal: Principal | null): Record<string, string> | Promise<Record<string, string>>
  /** Drop cached credentials (the provider said 401/403). Undefined for fixed keys. */
  readonly invalidate: (() => void) | undefined
  /** How requests are authenticated, for the boot log. */
  readonly describe: string
}

export interface AwsAuthOptions {
  readonly name: string
  readonly region: string
  readonly service: string
  readonly auth: AwsAuthConfig
  readonly assumeRole?: AssumeRoleConfig | undefined
  readonly env: NodeJS.ProcessEnv
}

export function awsAuth (o: AwsAuthOptions): AwsAuth {
  const a = o.auth
  if (a.api_key !== undefined) {
    const key = a.api_key
    return { headers: (req) => ({ ...req.headers, 'x-api-key': key }), invalidate: undefined, describe: 'x-api-key' }
  }
  if (a.aws_bearer_token !== undefined && o.assumeRole === undefined) {
    const bearer = `Bearer ${a.aws_bearer_token}`
    return { headers: (req) => ({ ...req.headers, authorization: bearer }), invalidate: undefined, describe: 'Bedrock API key (bearer)' }
  }
  loadSigv4() // at config time: the first request must not pay for loading aws4
  const explicit = a.aws_access_key_id !== undefined && a.aws_secret_access_key !== undefined
  const source: AwsCredentialProvider = explicit
    ? staticCredentials(a.aws_access_key_id as string, a.aws_secret_access_key as string, a.aws_session_token)
    : defaultChain(o.region, o.env)
  const roles = o.assumeRole !== undefined ? new RoleSessions(o.name, o.region, o.assumeRole, source, o.env) : null
  const sign = (req: SignableRequest, c: AwsCredentials): Record<string, string> =>
    sigv4({ origin: req.origin, path: req.path, headers: req.headers, body: req.body, service: o.service, region: o.region }, c)
  return {
    headers (req, principal) {
      const p = roles !== null ? roles.forPrincipal(principal) : source
      const c = p.peek()
      if (c !== null) return sign(req, c)
      return p.get().then((fresh) => sign(req, fresh))
    },
    invalidate: roles !== null ? () => { roles.invalidate() } : explicit ? undefined : () => { source.invalidate() },
    describe: `SigV4 (${o.service}, ${roles !== null ? `assume_role ${o.assumeRole?.role_arn ?? ''}` : explicit ? 'keys from gateway.yaml' : 'AWS default credential chain'})`,
  }
}

/** Resolve a value-or-promise without an extra tick when it is already a value. */
export function then<T, U> (v: T | Promise<T>, f: (x: T) => U): U | Promise<U> {
  return v instanceof Promise ? v.then(f) : f(v)
}
