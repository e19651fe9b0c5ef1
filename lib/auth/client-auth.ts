/**
 * How Weir authenticates itself to the IdP's token (and revocation) endpoint.
 *
 * `oidc.token_endpoint_auth_method`:
 *   - `client_secret_basic`: HTTP Basic with the form-encoded client id and secret (RFC 6749 §2.3.1);
 *   - `client_secret_post`: `client_id` and `client_secret` in the form body;
 *   - `private_key_jwt` (RFC 7523): a short-lived RS256 assertion signed with
 *     `oidc.client_assertion.private_key_pem`, its header naming the registered certificate by
 *     SHA-1 and SHA-256 thumbprints (`x5t`, `x5t#S256`, which Entra ID and others look up by).
 *   - unset: `client_secret_post`, unless the IdP's discovery document lists the methods it
 *     accepts and `client_secret_post` is not among them, then `client_secret_basic`.
 */
import { X509Certificate, createHash, createPrivateKey, randomUUID, type KeyObject } from 'node:crypto'
import { SignJWT } from 'jose'
import type { OidcConfig } from '../config/schema/oidc.js'

export type AuthMethod = 'client_secret_basic' | 'client_secret_post' | 'private_key_jwt'

/** The method in force for this config and IdP metadata. */
export function authMethodFor (cfg: Pick<OidcConfig, 'token_endpoint_auth_method'>, supported: readonly string[] | undefined): AuthMethod {
  if (cfg.token_endpoint_auth_method !== undefined) return cfg.token_endpoint_auth_method
  return supported !== undefined && !supported.includes('client_secret_post') ? 'client_secret_basic' : 'client_secret_post'
}

const formEncode = (s: string): string => encodeURIComponent(s).replace(/%20/g, '+')

/** Adds client authentication to a token-endpoint request. */
export class ClientAuth {
  readonly method: AuthMethod
  private readonly key: KeyObject | undefined
  private readonly x5t: string | undefined
  private readonly x5tS256: string | undefined

  constructor (private readonly cfg: OidcConfig, supported: readonly string[] | undefined, private readonly audience: string) {
    this.method = authMethodFor(cfg, supported)
    if (this.method === 'private_key_jwt') {
      const a = cfg.client_assertion
      if (a === undefined) throw new TypeError('private_key_jwt needs oidc.client_assertion')
      this.key = createPrivateKey(a.private_key_pem)
      const der = new X509Certificate(a.certificate_pem).raw
      this.x5t = createHash('sha1').update(der).digest('base64url')
      this.x5tS256 = createHash('sha256').update(der).digest('base64url')
    }
  }

  /** A fresh client assertion (five minutes, single-use `jti`). */
  async assertion (): Promise<string> {
    const now = Math.floor(Date.now() / 1000)
    return await new SignJWT({})
      .setProtectedHeader({ alg: 'RS256', typ: 'JWT', x5t: this.x5t as string, 'x5t#S256': this.x5tS256 as string })
      .setIssuer(this.cfg.client_id)
      .setSubject(this.cfg.client_id)
      .setAudience(this.audience)
      .setJti(randomUUID())
      .setIssuedAt(now)
      .setNotBefore(now)
      .setExpirationTime(now + 300)
      .sign(this.key as KeyObject)
  }

  /** Add credentials to `form` and return the headers to send. */
  async apply (form: URLSearchParams): Promise<Record<string, string>> {
    const { client_id: id } = this.cfg
    switch (this.method) {
      case 'client_secret_basic':
        return { authorization: `Basic ${Buffer.from(`${formEncode(id)}:${formEncode(this.cfg.client_secret ?? '')}`).toString('base64')}` }
      case 'client_secret_post':
        form.set('client_id', id)
        form.set('client_secret', this.cfg.client_secret ?? '')
        return {}
      case 'private_key_jwt':
        form.set('client_id', id)
        form.set('client_assertion_type', 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer')
        form.set('client_assertion', await this.assertion())
        return {}
    }
  }
}
