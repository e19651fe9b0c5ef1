/**
 * Why a sign-in or a refresh did not produce a session, sorted by what the client should be told.
 *
 * On the refresh grant the split is the deprovisioning contract: `invalid_grant` (401) sends the
 * developer back through the browser sign-in — the IdP refused the refresh token, or the identity
 * it vouched for no longer passes Weir's checks (email not verified, domain or group not allowed).
 * `temporarily_unavailable` (503) means "try again later": the IdP could not be reached or answered
 * with something other than a refusal, its answer failed validation, or a dependency such as the
 * Google Directory lookup failed. At the browser callback both end the grant as denied.
 */

/** Base class: `outcome` is the OAuth error the token endpoint answers with. */
export class SignInError extends Error {
  constructor (readonly outcome: 'invalid_grant' | 'temporarily_unavailable', message: string, readonly userMessage?: string) {
    super(message)
    this.name = new.target.name
  }
}

/** The identity failed a policy check (reason is for logs; userMessage for the person). */
export class PolicyDenied extends SignInError {
  constructor (message: string, userMessage?: string) { super('invalid_grant', message, userMessage) }
}

/** The IdP answered with an OAuth error that means "no" (`invalid_grant`). */
export class IdpRefused extends SignInError {
  constructor (message: string) { super('invalid_grant', message) }
}

/** The IdP or a dependency failed in a way that may pass. */
export class IdpUnavailable extends SignInError {
  constructor (message: string) { super('temporarily_unavailable', message) }
}
