/**
 * Google Workspace groups for `oidc.google_groups`: Google id_tokens carry no groups, so Weir asks
 * the Admin SDK Directory API which groups a user belongs to.
 *
 * Authentication is a service account with domain-wide delegation on the read-only group scope,
 * impersonating `admin_email` (google-auth-library's JWT client: a signed JWT-bearer assertion
 * exchanged for an access token, cached until shortly before it expires). Group addresses come
 * back lower-cased; up to 50 pages of 200 are read.
 *
 * Endpoints default to Google's. `WEIR_GOOGLE_TOKEN_URL` and `WEIR_GOOGLE_DIRECTORY_URL` point them
 * elsewhere (a Private Service Connect endpoint, or a test double).
 */
import { readFile } from 'node:fs/promises'
import type { JWT } from 'google-auth-library'
import { IdpUnavailable } from './errors.js'

const SCOPE = 'https://www.googleapis.com/auth/admin.directory.group.readonly'
const TOKEN_URL = 'https://oauth2.googleapis.com/token'
const DIRECTORY_URL = 'https://admin.googleapis.com/admin/directory/v1/groups'
const MAX_PAGES = 50

/** The fields of a service-account key file Weir needs. */
export interface ServiceAccount { client_email: string, private_key: string }

/** Read and check a service-account key file. Throws with a message naming what is wrong. */
export async function readServiceAccount (path: string): Promise<ServiceAccount> {
  let text: string
  try { text = await readFile(path, 'utf8') } catch (err) {
    throw new Error(`cannot read the service account key ${path}: ${(err as Error).message}`)
  }
  let doc: unknown
  try { doc = JSON.parse(text) } catch { throw new Error(`${path} is not JSON`) }
  const d = doc as Record<string, unknown>
  if (typeof d?.client_email !== 'string' || typeof d.private_key !== 'string') {
    throw new Error(`${path} is not a Google service account key (it needs client_email and private_key)`)
  }
  return { client_email: d.client_email, private_key: d.private_key }
}

/** Looks up a user's Workspace groups. One per worker; the access token is shared by its lookups. */
export class GoogleGroups {
  private client: Promise<JWT> | null = null
  private readonly tokenUrl: string
  private readonly directoryUrl: string

  constructor (private readonly cfg: { service_account_json_path: string, admin_email: string }, env: NodeJS.ProcessEnv = process.env) {
    this.tokenUrl = env.WEIR_GOOGLE_TOKEN_URL ?? TOKEN_URL
    this.directoryUrl = env.WEIR_GOOGLE_DIRECTORY_URL ?? DIRECTORY_URL
  }

  private async jwt (): Promise<JWT> {
    this.client ??= (async () => {
      const sa = await readServiceAccount(this.cfg.service_account_json_path)
      const tokenUrl = this.tokenUrl
      // The library always posts to Google's token URL; send that one request elsewhere when told to.
      const fetchImplementation = async (input: string | URL, init?: RequestInit): Promise<Response> => {
        const url = String(input) === TOKEN_URL ? tokenUrl : String(input)
        return await fetch(url, { ...init, signal: init?.signal ?? AbortSignal.timeout(10_000) })
      }
      const { JWT: Client } = await import('google-auth-library') // loaded only where google_groups is configured
      return new Client({ email: sa.client_email, key: sa.private_key, scopes: [SCOPE], subject: this.cfg.admin_email, transporterOptions: { fetchImplementation } as never })
    })()
    try {
      return await this.client
    } catch (err) {
      this.client = null
      throw err
    }
  }

  /** The user's groups (lower-cased addresses). Throws `IdpUnavailable` when the lookup fails. */
  async groupsOf (email: string): Promise<string[]> {
    try {
      const client = await this.jwt()
      const out: string[] = []
      let pageToken: string | undefined
      for (let page = 0; page < MAX_PAGES; page++) {
        const url = new URL(this.directoryUrl)
        url.searchParams.set('userKey', email)
        url.searchParams.set('maxResults', '200')
        if (pageToken !== undefined) url.searchParams.set('pageToken', pageToken)
        const res = await client.request<{ groups?: Array<{ email?: unknown }>, nextPageToken?: unknown }>({ url: url.toString(), timeout: 10_000 })
        for (const g of res.data.groups ?? []) if (typeof g.email === 'string') out.push(g.email.toLowerCase())
        pageToken = typeof res.data.nextPageToken === 'string' && res.data.nextPageToken !== '' ? res.data.nextPageToken : undefined
        if (pageToken === undefined) break
      }
      return out
    } catch (err) {
      const e = err as { message?: string, status?: number, response?: { status?: number } }
      const status = e.response?.status ?? e.status
      throw new IdpUnavailable(`google_groups lookup failed: ${status !== undefined ? `HTTP ${status}: ` : ''}${e.message ?? String(err)}`)
    }
  }
}
