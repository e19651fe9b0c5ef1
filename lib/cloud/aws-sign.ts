/**
 * AWS Signature Version 4 for one outgoing request, with aws4.
 *
 * The service name is always passed explicitly: aws4 would otherwise guess it from the host name
 * (`bedrock-runtime.…` → `bedrock-runtime`), which is the wrong credential scope for Bedrock.
 * The returned headers are exactly what was signed plus what aws4 added (`Host`, `Content-Length`,
 * `X-Amz-Date`, `X-Amz-Security-Token`, `Authorization`); the body must go out byte for byte.
 * aws4 is loaded by `loadSigv4()` (lib/cloud/sdk.ts): builders of SigV4 upstreams call it at
 * config time, so no request pays for the load and a gateway without them never loads it.
 */
import { aws4 } from './sdk.js'

export interface AwsCredentials {
  readonly accessKeyId: string
  readonly secretAccessKey: string
  readonly sessionToken?: string | undefined
  /** Epoch ms; undefined for long-lived keys. */
  readonly expiresAt?: number | undefined
  /** Where they came from, for logs (never the secret). */
  readonly source: string
}

export interface SignInput {
  /** `https://host[:port]` of the request. */
  readonly origin: string
  /** Path with query string, already percent-encoded as it goes on the wire. */
  readonly path: string
  readonly method?: string
  readonly headers: Record<string, string>
  readonly body: Buffer | string
  readonly service: string
  readonly region: string
}

let signer: ReturnType<typeof aws4> | null = null

/** Load aws4 in this thread now (idempotent); `sigv4` also loads it if nobody did. */
export function loadSigv4 (): void { signer ??= aws4() }

/** Sign and return the headers to send (the input headers are not modified). */
export function sigv4 (req: SignInput, creds: AwsCredentials): Record<string, string> {
  const url = new URL(req.origin)
  const opts = {
    host: url.host,
    path: req.path,
    method: req.method ?? 'POST',
    headers: { ...req.headers } as Record<string, string>,
    body: req.body,
    service: req.service,
    region: req.region,
  }
  signer ??= aws4()
  signer.sign(opts, { accessKeyId: creds.accessKeyId, secretAccessKey: creds.secretAccessKey, sessionToken: creds.sessionToken })
  const out: Record<string, string> = {}
  for (const k in opts.headers) out[k.toLowerCase()] = String(opts.headers[k])
  return out
}
