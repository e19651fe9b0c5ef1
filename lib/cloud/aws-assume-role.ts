/**
 * `assume_role` on a bedrock or mantle upstream: Weir calls sts:AssumeRole with its own (source)
 * credentials and signs inference with the role's temporary credentials.
 *
 * Without `session_name` every request shares one role session named `weir-gateway`. With
 * `session_name: email` or `sub`, each developer gets a role session named after that claim, so
 * CloudTrail and the model invocation logs show who made each call; those sessions are cached per
 * worker in a BoundedCache (the least recently used dropped beyond 2,000). A developer whose token lacks the claim is
 * refused (the request is not sent under the shared session instead). Session credentials are
 * refreshed five minutes before they expire. The source credentials are never used for inference.
 */
import { createHash } from 'node:crypto'
import { BoundedCache } from '../cache.js'
import type { AwsCredentialProvider, AwsCredentials } from './aws-credentials.js'
import { cachedCredentials } from './aws-credentials.js'
import { assumeRole } from './aws-sts.js'

export const SHARED_SESSION = 'weir-gateway'
const MAX_SESSIONS = 2_000

export interface AssumeRoleConfig {
  readonly role_arn: string
  readonly external_id?: string | undefined
  readonly session_name?: 'email' | 'sub' | undefined
}

/**
 * A role session name for a claim value: `[\w+=,.@-]` kept, anything else as `=XX` UTF-8 bytes,
 * at most 64 characters (long values keep a prefix and a hash). Null when nothing usable remains.
 */
export function sessionNameFor (v: string): string | null {
  if (/\p{Surrogate}/u.test(v)) return null
  let s = ''
  for (const ch of v) {
    if (/^[\w+=,.@-]$/.test(ch)) s += ch
    else for (const b of Buffer.from(ch, 'utf8')) s += '=' + b.toString(16).toUpperCase().padStart(2, '0')
  }
  if (s.length > 64) s = `${s.slice(0, 40)}=-${createHash('sha256').update(v).digest('hex').slice(0, 22)}`
  return s.length >= 2 ? s : null
}

export class RoleSessions {
  private readonly shared: AwsCredentialProvider
  private readonly perUser = new BoundedCache<string, AwsCredentialProvider>(MAX_SESSIONS)

  constructor (
    private readonly upstream: string,
    private readonly region: string,
    private readonly cfg: AssumeRoleConfig,
    private readonly source: AwsCredentialProvider,
    private readonly env: NodeJS.ProcessEnv,
  ) {
    this.shared = this.session(SHARED_SESSION)
  }

  private session (name: string): AwsCredentialProvider {
    return cachedCredentials(async () => await this.assume(name), `assume_role ${this.cfg.role_arn} (${name})`)
  }

  private async assume (name: string): Promise<AwsCredentials> {
    const src = this.source.peek() ?? await this.source.get()
    try {
      return await assumeRole({ region: this.region, roleArn: this.cfg.role_arn, sessionName: name, externalId: this.cfg.external_id, source: src, env: this.env })
    } catch (err) {
      throw new Error(`upstream ${this.upstream}: sts:AssumeRole on ${this.cfg.role_arn} failed (${err instanceof Error ? err.message : String(err)}); the request was not sent. ` +
        "Check that the gateway's AWS identity may call sts:AssumeRole on that role, that the role's trust policy trusts it (with external_id if it requires one), and that STS is reachable", { cause: err })
    }
  }

  /** The credentials to sign with for this developer (`who` = the claims session_name may use). */
  forPrincipal (who: { sub: string, email?: string | undefined } | null): AwsCredentialProvider {
    const claim = this.cfg.session_name
    if (claim === undefined || who === null) return this.shared
    const raw = claim === 'sub' ? who.sub : who.email
    const name = raw === undefined || raw === '' ? null : sessionNameFor(raw)
    if (name === null || name === SHARED_SESSION) {
      throw new Error(`upstream ${this.upstream}: sub=${who.sub} has no usable ${claim} claim for assume_role.session_name; the request was not sent`)
    }
    let p = this.perUser.get(name)
    if (p !== undefined) return p
    p = this.session(name)
    this.perUser.set(name, p)
    return p
  }

  /** The shared session (count_tokens and other unattributed calls). */
  get sharedSession (): AwsCredentialProvider { return this.shared }

  invalidate (): void {
    this.shared.invalidate()
    for (const [, p] of this.perUser.entries()) p.invalidate()
    this.source.invalidate()
  }
}
