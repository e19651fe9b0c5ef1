/**
 * The text served at `GET /protocol`: Weir's own description of the protocol it speaks, written
 * for people integrating with or operating Weir. `{base}` is replaced with the gateway's base URL
 * and `{version}` with Weir's version when served.
 */
export const PROTOCOL_MARKDOWN = `# Weir gateway protocol (Weir {version})

Weir sits between Claude Code and your model providers. This page describes every endpoint it
serves at \`{base}\`. Claude Code in gateway mode needs nothing beyond what is listed here; the same
contract is served by Anthropic's own gateway, so clients work with either.

Weir never rejects a request because of a parameter, body field or header it does not recognise:
sign-in endpoints ignore unknown parameters, and \`/v1/messages\` forwards unknown body fields and
\`anthropic-beta\` values to the upstream untouched.

## Signing in

1. \`GET {base}/.well-known/oauth-authorization-server\` returns RFC 8414 metadata naming the
   device-authorization, token and revocation endpoints (all on this origin).
2. \`POST {base}/oauth/device_authorization\` (form body; no client id needed) returns a
   \`device_code\` (256 random bits, single use), a \`user_code\` shown as \`XXXX-XXXX\` from a
   20-consonant alphabet, \`verification_uri\`, \`verification_uri_complete\`, \`expires_in\` (600)
   and \`interval\` (5). An optional \`login_notice\` is plain text for the sign-in screen.
3. The developer opens \`{base}/device\`, confirms the code (a pre-filled code is never submitted
   automatically) and signs in at the company identity provider. The page only accepts form posts
   from its own origin and is rate limited per client address.
4. The client polls \`POST {base}/oauth/token\` with
   \`grant_type=urn:ietf:params:oauth:grant-type:device_code\`:
   - 400 \`authorization_pending\`: keep polling;
   - 400 or 429 \`slow_down\`: poll five seconds slower;
   - 400 \`access_denied\` or \`expired_token\`: stop;
   - 200 \`{access_token, token_type: "Bearer", expires_in, refresh_token?, email?}\`: signed in.
5. Before \`expires_in\` runs out the client sends \`grant_type=refresh_token\`. Weir asks the
   identity provider to renew the session; if the provider refuses (the developer was removed),
   the answer is 401 \`invalid_grant\` and the developer must sign in again.
6. Sign-out: \`POST {base}/oauth/revoke\` with \`token=<access or refresh token>\` (RFC 7009). A
   revoked bearer is refused everywhere within seconds, with 401 and \`x-should-retry: false\`.
   Revoking either token ends the whole sign-in: the refresh grant then answers 401
   \`invalid_grant\` for every refresh token of that sign-in, so the developer must sign in again.

OAuth endpoints answer errors as \`{"error": "<code>"}\` with \`Cache-Control: no-store\`.

## The bearer token

The access token is an HS256 JWT with \`sub\`, \`email\`, \`name\`, \`groups\`, \`aud\`
(\`claude-gateway\`), \`iat\`, \`exp\`, a unique \`jti\` and, when a public URL is configured, \`iss\`. Send it as
\`Authorization: Bearer <token>\` on every endpoint below, exactly as issued: only that one
spelling is accepted (unpadded base64url), not a re-encoding of it. A missing, expired, revoked or
forged token gets 401 \`authentication_error\` with \`x-should-retry: false\`.

## Inference

\`POST {base}/v1/messages\` and \`POST {base}/v1/messages/count_tokens\` are the Anthropic Messages
API. Weir routes the request to the first healthy upstream that serves the model, translating for
Amazon Bedrock, Google Vertex and Microsoft Foundry, and streams Server-Sent Events back as they
arrive. Requests must carry \`Content-Length\` (411 otherwise) and stay under the configured size
(413 \`request_too_large\`). A model outside the developer's allowed list gets 400
\`invalid_request_error\` naming it. Before the first byte reaches the client, Weir fails over to
the next upstream on connection errors, timeouts and 5xx/429/401/403/404 answers; after it, an
upstream failure ends the stream with an \`error\` event.

\`GET {base}/v1/models\` lists the models this developer may use, in the Anthropic list shape.

## Managed settings

\`GET {base}/managed/settings\` returns \`{uuid, checksum, settings}\` for the policy that matches
the developer's groups and email. \`checksum\` is \`sha256:\` followed by the hex SHA-256 of the
settings JSON with object keys sorted at every depth and no whitespace; it is also the quoted
\`ETag\`. A matching \`If-None-Match\` gets 304; no matching policy gets 404.

Claude Desktop sessions read their configuration from \`GET {base}/user/bootstrap\` (bearer) when
the matching policy has a \`desktop\` block; otherwise that endpoint answers 404.

## Telemetry

\`POST {base}/v1/metrics\`, \`/v1/logs\` and \`/v1/traces\` accept OTLP/HTTP (protobuf or JSON,
optionally gzip). Weir always answers 200, replaces the identity attributes with the ones from the
verified bearer, and forwards to the operator's collectors.

## Spend limits

When the operator sets caps, each successful \`/v1/messages\` response carries the
\`anthropic-ratelimit-unified-*\` headers describing the developer's standing, and a request over
the cap is refused before it reaches a model with 429 \`billing_error\`, \`retry-after\` and
\`x-should-retry: false\`. \`GET {base}/api/oauth/usage\` returns the amounts in cents.

## Administration

When the operator configures \`admin\`, \`{base}/v1/organizations/spend_limits\` manages caps (per
user, per group member, per organisation, pooled per group; daily, weekly or monthly) with the
Anthropic Admin API's shapes: create or replace with POST, list, read, delete, \`/effective\` for
each developer's standing and \`/audit\` for the change history. Authenticate with an admin key in
\`x-api-key\` (read or write) or a bearer whose groups include an admin group.

## Errors

Bearer endpoints use \`{"type":"error","error":{"type":"...","message":"..."}}\`:

| Status | error.type | Meaning |
|---|---|---|
| 400 | invalid_request_error | malformed body, denied or unknown model |
| 401 | authentication_error | sign in again |
| 403 | permission_error | authenticated but not allowed, or address refused |
| 404 | not_found_error | no such endpoint |
| 413 | request_too_large | body over the limit |
| 429 | rate_limit_error / billing_error | throttled / spend cap reached |
| 501 | not_supported | not available on this backend |
| 529 | overloaded_error | upstream at capacity |
| 5xx | api_error | anything else |

## Operations

\`GET {base}/healthz\` answers 200 while the process runs; \`GET {base}/readyz\` answers 200 only
while the database answers. Every response carries \`x-request-id\` and \`x-cc-gateway-version\`.

## Transport

Serve Weir over https. Claude Code pins the certificate it first accepted per host name, so every
replica behind one name must present the same leaf certificate. Plain http is for loopback only.
`

/** Appended to the page when `cri.enabled`: how customer-routed tokens are admitted. */
export const CRI_PROTOCOL_MARKDOWN = `
## Customer-routed inference

This gateway also admits Claude Enterprise clients that hold a token minted by Anthropic instead
of a gateway session. Such a token is a compact JWS whose header says \`typ: cri+jwt\`; it is
accepted only on \`POST {base}/v1/messages\` and \`POST {base}/v1/messages/count_tokens\`.

- The signature must be ES256, by a key the issuer publishes at \`<issuer>/jwks.json\`. Weir keeps
  that key set in memory (for the response's \`max-age\`, at most 3 hours, else 10 minutes; an
  unknown key id triggers at most one refresh a minute) and stops trusting it 6 hours after the
  last successful fetch.
- Claims: \`iss\` is the configured issuer, \`aud\` one of the configured audiences, \`exp\`, \`iat\`,
  \`sub\`, \`org\` and \`scope\` present, times checked with 60 seconds of leeway, \`scope\` exactly
  \`inference\`, and \`org\` one of the organisations the operator allows. \`act.sub\`, when present,
  is recorded as the person acting.
- A token that fails any check gets 401 \`authentication_error\` \`invalid token\`. When the issuer's
  keys cannot be had, the answer is 503 \`api_error\` with \`retry-after: 30\`.
- These requests are not counted against spend limits and not matched to managed policies. Error
  bodies from upstreams are replaced by generic ones, and answers served by a cloud provider carry
  \`x-cri-upstream-kind: cloud\`.
- When the operator configured a content-policy check, a request it blocks gets 400
  \`policy_blocked\` with \`x-should-retry: false\`; do not retry it or fall back to another model.
`
