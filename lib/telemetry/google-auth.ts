/**
 * `forward_to[].auth.google`: send a Google OAuth access token with every relayed request, for
 * Google Cloud's OTLP endpoint (telemetry.googleapis.com). The credential is
 * `service_account_json` — a path to a key file, or the JSON itself — or, when absent,
 * Application Default Credentials (workload identity on GKE or Cloud Run, GOOGLE_APPLICATION_CREDENTIALS).
 * google-auth-library caches the token and refreshes it before it expires; a failure to get one
 * fails that attempt like a network error would (retried, and counted by the breaker).
 * google-auth-library is loaded (lib/cloud/sdk.ts) when such a destination is configured, at boot
 * or by the reload that adds it; a gateway without one never loads it.
 */
import { googleAuthLibrary } from '../cloud/sdk.js'

const SCOPES = ['https://www.googleapis.com/auth/cloud-platform']

export function googleAuthHeaders (serviceAccountJson?: string): () => Promise<Record<string, string>> {
  const src = serviceAccountJson?.trim()
  const { GoogleAuth } = googleAuthLibrary()
  const auth = src === undefined || src === ''
    ? new GoogleAuth({ scopes: SCOPES })
    : src.startsWith('{')
      ? new GoogleAuth({ scopes: SCOPES, credentials: JSON.parse(src) as Record<string, unknown> })
      : new GoogleAuth({ scopes: SCOPES, keyFile: src })
  return async () => {
    const token = await auth.getAccessToken()
    if (token === null || token === undefined || token === '') throw new Error('Google returned no access token')
    return { authorization: `Bearer ${token}` }
  }
}
