/**
 * Schema for `upstreams`: the ordered list of model providers (order = failover precedence).
 *
 * Each entry is picked by its `provider` with `dynamic()` rather than `union()`, so a mistake
 * inside an entry is reported at its own key instead of as "does not match any of the union".
 * `name` defaults to the provider string (filled by a coercer, so the type always has it).
 * The same trick picks the one `auth` shape of anthropic and foundry upstreams.
 */
import { type Infer, type Struct, coerce, define, dynamic, literal, object, optional, refine } from 'superstruct'
import { type Issue, bool, def, isObj, issuesAt, list, map, matching, minStr, num, oneOf, posInt, received, str } from './kit.js'
import { urlHost, urlProblem } from './urls.js'

/** Default Anthropic API origin. */
export const ANTHROPIC_API = 'https://api.anthropic.com'

const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/
const RESERVED_HEADERS = new Set(['authorization', 'proxy-authorization', 'x-api-key', 'api-key', 'host', 'content-length',
  'content-encoding', 'transfer-encoding', 'connection', 'keep-alive', 'te', 'trailer', 'upgrade', 'expect', 'content-type',
  'accept', 'accept-encoding', 'user-agent', 'x-litellm-end-user-id'])
const RESERVED_PREFIXES = ['anthropic-', 'x-stainless-', 'x-claude-gateway-', 'x-goog-', 'x-amz-', 'x-amzn-']

/** Extra headers sent to an upstream on every request. */
const Headers = refine(map(str()), 'headers', (v, ctx) => {
  const seen = new Set<string>()
  const issues: Issue[] = []
  for (const [name, value] of Object.entries(v)) {
    const lower = name.toLowerCase()
    const why = !HEADER_NAME.test(name)
      ? 'is not a valid HTTP header name'
      : seen.has(lower)
        ? 'is listed twice (header names ignore case)'
        : RESERVED_HEADERS.has(lower) || RESERVED_PREFIXES.some(p => lower.startsWith(p))
          ? 'is reserved (set or signed by the gateway or the provider SDK)'
          : !/^[\x20-\x7e]+$/.test(value) || value !== value.trim()
            ? 'needs a non-empty printable-ASCII value without surrounding spaces'
            : undefined
    seen.add(lower)
    if (why !== undefined) issues.push({ path: [name], message: `header '${name}' ${why}` })
  }
  return issuesAt(ctx, issues)
})

const HeaderValue = matching(/^[\x21-\x7e]+$/, 'must be a valid header value (printable ASCII, no spaces)')
const AwsRegion = matching(/^[a-z0-9-]+$/, 'must be an AWS region (lowercase letters, digits and hyphens)')
const BaseUrl = refine(str(), 'url', v => urlProblem(v, 'allow') ?? true)
const Groups = list(minStr(1, 'empty entry: set an IdP group name or remove the entry'), 1,
  'needs at least one group; remove the key to serve everyone')
const Models = list(minStr(), 1, 'needs at least one model; remove the key to send it every model')

/** Keys every provider except mock accepts. */
const common = {
  /** Upstream name used in logs, `models[].upstream_model` and pricing. Default: the provider string. */
  name: str(),
  /** Extra request headers. */
  headers: optional(Headers),
  /** Only developers in one of these IdP groups are routed here. Default everyone. */
  groups: optional(Groups),
  /** Only these client model ids are sent here. Default every model. */
  models: optional(Models),
}

const pairing = (v: { aws_access_key_id?: string, aws_secret_access_key?: string, aws_session_token?: string }): Issue[] => {
  const out: Issue[] = []
  if ((v.aws_access_key_id === undefined) !== (v.aws_secret_access_key === undefined)) {
    out.push({ message: 'aws_access_key_id and aws_secret_access_key must be set together' })
  }
  if (v.aws_session_token !== undefined && v.aws_access_key_id === undefined) {
    out.push({ message: 'aws_session_token requires aws_access_key_id and aws_secret_access_key' })
  }
  return out
}

const SigV4Auth = refine(object({
  aws_access_key_id: optional(minStr()),
  aws_secret_access_key: optional(minStr()),
  aws_session_token: optional(minStr()),
  /** Bedrock API key, sent as a bearer; wins over SigV4. */
  aws_bearer_token: optional(minStr()),
}), 'pairing', (v, ctx) => issuesAt(ctx, pairing(v)))

const AssumeRole = object({
  role_arn: matching(/^arn:aws(-us-gov)?:iam::\d{12}:role\/[\w+=,.@/-]+$/, 'must be an IAM role ARN (arn:aws:iam::<account>:role/<name>)'),
  external_id: optional(matching(/^[\w+=,.@:/-]{2,1224}$/, 'must be 2 to 1224 characters of letters, digits and _+=,.@:/-')),
  /** Which identity names the STS session. */
  session_name: optional(oneOf(['email', 'sub'] as const)),
})

/** Bedrock guardrail input tagging modes. */
export const GUARDRAIL_TAGGING = ['last_message', 'user_messages', 'all_messages', 'all_messages_and_system'] as const

/** Pick one of several strict object shapes by which marker keys are present. */
function oneShape<T> (what: string, shapes: ReadonlyArray<{ keys: readonly string[], struct: Struct<any, any> }>): Struct<T, null> {
  const first = shapes.map(s => s.keys[0] as string)
  const names = `${first.slice(0, -1).join(', ')} or ${first[first.length - 1] as string}`
  return dynamic<T>(v => {
    if (!isObj(v)) return shapes[0]!.struct
    const hits = shapes.filter(s => s.keys.some(k => Object.hasOwn(v, k)))
    if (hits.length === 1) return hits[0]!.struct
    const message = hits.length === 0
      ? `needs exactly one of ${names}`
      : `must use exactly one of ${names}, not several`
    return define(what, () => message)
  })
}

/** `auth` of an anthropic upstream: exactly one of three shapes. */
const AnthropicAuth = oneShape<{ api_key: string } | { oauth_token: string } | {
  federation_rule_id: string, organization_id: string, identity_token_file: string, service_account_id?: string, workspace_id?: string
}>('auth', [
  { keys: ['api_key'], struct: object({ api_key: minStr() }) },
  { keys: ['oauth_token'], struct: object({ oauth_token: minStr() }) },
  {
    keys: ['federation_rule_id', 'organization_id', 'identity_token_file', 'service_account_id', 'workspace_id'],
    struct: object({
      federation_rule_id: minStr(),
      organization_id: minStr(),
      /** File holding the workload identity JWT, re-read on every exchange. */
      identity_token_file: minStr(),
      service_account_id: optional(str()),
      workspace_id: optional(str()),
    }),
  },
])

const FoundryAuth = oneShape<{ api_key: string } | { use_azure_ad: true }>('auth', [
  { keys: ['api_key'], struct: object({ api_key: minStr() }) },
  { keys: ['use_azure_ad'], struct: object({ use_azure_ad: literal(true) }) },
])

/** `provider: anthropic`: the Anthropic API or an Anthropic-compatible proxy. */
export const AnthropicUpstreamSchema = object({
  ...common,
  provider: literal('anthropic'),
  /** API origin. Default https://api.anthropic.com. */
  base_url: def(BaseUrl, ANTHROPIC_API),
  auth: AnthropicAuth,
  /** Send the developer's email and subject to base_url (never to Anthropic hosts). Default false. */
  forward_user_identity: optional(bool()),
})

/** `provider: bedrock`: Amazon Bedrock runtime. */
export const BedrockUpstreamSchema = object({
  ...common,
  provider: literal('bedrock'),
  region: minStr(),
  guardrail: optional(object({ id: HeaderValue, version: HeaderValue, input_tagging: optional(oneOf(GUARDRAIL_TAGGING)) })),
  guardrail_trace: optional(bool()),
  base_url: optional(BaseUrl),
  /** Empty = the AWS default credential chain. */
  auth: def(SigV4Auth, () => ({})),
  assume_role: optional(AssumeRole),
})

/** `provider: mantle`: Bedrock's Mantle endpoint; `models` is required. */
export const MantleUpstreamSchema = object({
  ...common,
  provider: literal('mantle'),
  region: AwsRegion,
  base_url: optional(BaseUrl),
  models: Models,
  auth: def(SigV4Auth, () => ({})),
  assume_role: optional(AssumeRole),
})

/** `provider: anthropicAws`: Claude Platform on AWS. */
export const AnthropicAwsUpstreamSchema = object({
  ...common,
  provider: literal('anthropicAws'),
  region: AwsRegion,
  workspace_id: HeaderValue,
  base_url: optional(BaseUrl),
  auth: def(refine(object({
    api_key: optional(minStr()),
    aws_access_key_id: optional(minStr()),
    aws_secret_access_key: optional(minStr()),
    aws_session_token: optional(minStr()),
  }), 'pairing', (v, ctx) => issuesAt(ctx, pairing(v))), () => ({})),
})

const GcpId = (what: string) => matching(/^[A-Za-z0-9_-]+$/, `must be a ${what}`)

/** `provider: anthropicGoogleCloud`: Claude Platform on Google Cloud. */
export const AnthropicGoogleCloudUpstreamSchema = object({
  ...common,
  provider: literal('anthropicGoogleCloud'),
  project_id: GcpId('GCP project id'),
  workspace_id: GcpId('workspace id'),
  /** GCP location. Default global. */
  location: def(GcpId('GCP location'), 'global'),
  base_url: optional(BaseUrl),
  auth: def(object({ service_account_json: optional(minStr()), access_token: optional(minStr()) }), () => ({})),
})

/** `provider: vertex`: Google Cloud Vertex AI (Agent Platform). */
export const VertexUpstreamSchema = object({
  ...common,
  provider: literal('vertex'),
  /** Region, or `global`. */
  region: minStr(),
  project_id: minStr(),
  base_url: optional(BaseUrl),
  /** Empty = Application Default Credentials. `service_account_json` is a file path. */
  auth: def(object({ service_account_json: optional(str()), access_token: optional(str()) }), () => ({})),
})

/** `provider: foundry`: Microsoft Foundry. `resource` is required even with base_url. */
export const FoundryUpstreamSchema = object({
  ...common,
  provider: literal('foundry'),
  resource: matching(/^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])$/i, 'must be 2-64 letters, digits or hyphens, not starting or ending with a hyphen'),
  base_url: optional(BaseUrl),
  auth: FoundryAuth,
})

/** `provider: mock` — Weir extension: an in-process fake upstream for local runs and tests. */
export const MockUpstreamSchema = object({
  provider: literal('mock'), // Weir extension
  name: str(), // Weir extension
  /** Delay before each streamed event, in milliseconds. Default 0 ms. */
  delay_ms: def(num({ min: 0 }), 0), // Weir extension
  /** Number of content deltas in a streamed reply. Default 12. */
  events: def(posInt(), 12), // Weir extension
})

const BY_PROVIDER = {
  anthropic: AnthropicUpstreamSchema,
  bedrock: BedrockUpstreamSchema,
  mantle: MantleUpstreamSchema,
  anthropicAws: AnthropicAwsUpstreamSchema,
  anthropicGoogleCloud: AnthropicGoogleCloudUpstreamSchema,
  vertex: VertexUpstreamSchema,
  foundry: FoundryUpstreamSchema,
  mock: MockUpstreamSchema, // Weir extension
} as const

/** Every `provider` value gateway.yaml accepts. */
export const PROVIDERS = Object.keys(BY_PROVIDER) as ReadonlyArray<keyof typeof BY_PROVIDER>

export type AnthropicUpstream = Infer<typeof AnthropicUpstreamSchema>
export type BedrockUpstream = Infer<typeof BedrockUpstreamSchema>
export type MantleUpstream = Infer<typeof MantleUpstreamSchema>
export type AnthropicAwsUpstream = Infer<typeof AnthropicAwsUpstreamSchema>
export type AnthropicGoogleCloudUpstream = Infer<typeof AnthropicGoogleCloudUpstreamSchema>
export type VertexUpstream = Infer<typeof VertexUpstreamSchema>
export type FoundryUpstream = Infer<typeof FoundryUpstreamSchema>
export type MockUpstream = Infer<typeof MockUpstreamSchema>
/** One upstream; discriminated on `provider`, `name` always set. */
export type UpstreamConfig = AnthropicUpstream | BedrockUpstream | MantleUpstream | AnthropicAwsUpstream |
AnthropicGoogleCloudUpstream | VertexUpstream | FoundryUpstream | MockUpstream
export type Provider = UpstreamConfig['provider']

const withName = (v: unknown): unknown =>
  isObj(v) && v.name === undefined && typeof v.provider === 'string' ? { ...v, name: v.provider } : v

const asUpstream = (s: Struct<any, any>): Struct<UpstreamConfig, unknown> => s as Struct<UpstreamConfig, unknown>

/** One `upstreams[]` entry, chosen by `provider`. */
export const UpstreamSchema = coerce(dynamic<UpstreamConfig>(v => {
  const p = isObj(v) ? v.provider : undefined
  if (typeof p === 'string' && Object.hasOwn(BY_PROVIDER, p)) return asUpstream(BY_PROVIDER[p as Provider])
  if (!isObj(v)) return asUpstream(AnthropicUpstreamSchema) // reports "Expected an object"
  return asUpstream(define('upstream', (_v, ctx) => ({
    path: [...ctx.path, 'provider'],
    message: `must be one of ${PROVIDERS.join(', ')}, but received: ${received(p)}`,
  })))
}), define('any', () => true), withName)

const ANTHROPIC_HOST = (h: string): boolean => h === 'anthropic.com' || h.endsWith('.anthropic.com') ||
  /^aws-external-anthropic\.[^.]+\.api\.aws$/.test(h) || h === 'claude.googleapis.com'

const hostOf = (url: unknown): string => {
  try { return typeof url === 'string' ? urlHost(new URL(url)) : '' } catch { return '' }
}

/**
 * Rules that look at the whole list. Superstruct still runs a refinement when an entry failed only
 * a refinement of its own, handing over that entry uncoerced (no defaults), so read defensively.
 */
function listIssues (ups: readonly UpstreamConfig[]): Issue[] {
  const issues: Issue[] = []
  const seen = new Set<string>()
  ups.forEach((u, i) => {
    const name = typeof u.name === 'string' ? u.name : u.provider
    if (seen.has(name)) issues.push({ path: [i, 'name'], message: `duplicate upstream name '${name}': give each upstream a distinct name` })
    seen.add(name)
    if ((u.provider === 'bedrock' || u.provider === 'mantle') && u.assume_role !== undefined && u.auth?.aws_bearer_token !== undefined) {
      issues.push({ path: [i, 'assume_role'], message: 'needs SigV4 source credentials (access keys or the AWS default chain); aws_bearer_token cannot call sts:AssumeRole' })
    }
    if (u.provider === 'anthropic' && u.forward_user_identity === true && ANTHROPIC_HOST(hostOf(u.base_url ?? ANTHROPIC_API))) {
      issues.push({ path: [i, 'forward_user_identity'], message: 'is for a proxy you run at base_url; it is refused for Anthropic hosts so user emails never reach Anthropic' })
    }
  })
  const bedrock = ups.filter((u): u is BedrockUpstream => u.provider === 'bedrock')
  const guarded = bedrock.filter(u => u.guardrail !== undefined)
  if (guarded.length > 0 && guarded.length < bedrock.length) {
    issues.push({ message: 'set guardrail on all bedrock upstreams or on none: failover could otherwise reach a bedrock upstream without it' })
  }
  if (new Set(bedrock.map(u => u.guardrail?.input_tagging)).size > 1) {
    issues.push({ message: 'set the same guardrail.input_tagging on all bedrock upstreams' })
  }
  if (guarded.length > 0 && ups.some(u => u.provider === 'mantle')) {
    issues.push({ message: 'a mantle upstream cannot sit beside a bedrock upstream with a guardrail: no guardrail is applied on Mantle' })
  }
  return issues
}

/** `upstreams`: at least one entry. */
export const UpstreamsSchema = refine(list(UpstreamSchema, 1, 'needs at least one upstream'), 'upstreams',
  (v, ctx) => issuesAt(ctx, listIssues(v)))
