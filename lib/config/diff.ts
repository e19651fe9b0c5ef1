/**
 * What changes between two resolved configurations, and which of those changes a running gateway
 * can take live (used by the SIGHUP/--watch reload and by `weir validate --diff`).
 *
 * Invariants:
 * - The diff is over the resolved (interpolated, defaulted) configs, leaf by leaf; lists of the
 *   same length are compared item by item, lists whose length changed are one change at their path.
 * - `RESTART_KEYS` is the single list of subtrees fixed at boot. A change at or under one of them
 *   is reported as needing a restart and is never applied live: `liveConfig` keeps the running
 *   value of every such subtree, so a reload applies all of the live changes or none of them.
 * - Secret values never leave this module: `describeChange` prints a redacted marker for them.
 */
import { isDeepStrictEqual } from 'node:util'
import type { Config } from './schema.js'

export type Path = ReadonlyArray<string | number>

/** A subtree fixed at boot, and why. */
export interface RestartKey {
  readonly path: Path
  readonly why: string
}

/**
 * Subtrees that cannot change while the gateway runs. Decided from what the primary and the
 * workers set up once: the listen socket and TLS context (workers/http-worker.ts), the Postgres
 * pool (workers/primary.ts), the discovered identity provider (BootInfo.oidc), and the primary
 * modules started once from the boot config (workers/primary-modules.ts: the metrics exporters,
 * spend alert delivery and cap rules, the revocation bound, the load-test guard). Telemetry
 * destinations and pricing are not here: those modules take them through `Running.reload`.
 */
export const RESTART_KEYS: readonly RestartKey[] = Object.freeze([
  { path: ['listen', 'host'], why: 'the listen socket is opened at boot' },
  { path: ['listen', 'port'], why: 'the listen socket is opened at boot' },
  { path: ['listen', 'tls'], why: 'the TLS context is built when the socket opens' },
  { path: ['store'], why: 'the Postgres pool is opened at boot' },
  { path: ['oidc', 'issuer'], why: "the identity provider's discovery document is fetched at boot" },
  { path: ['session', 'ttl_hours'], why: "the primary bounds sign-out revocations by the boot session lifetime" },
  { path: ['telemetry', 'gateway_metrics'], why: "Weir's metrics exporters and Prometheus listener start with the primary" },
  { path: ['load_test_mode'], why: 'the load-test database guard runs at boot' },
  { path: ['admin', 'alerts'], why: 'spend alert delivery starts with the primary' },
  { path: ['admin', 'group_limit_mode'], why: "the primary's cap resolver starts with it" },
  { path: ['admin', 'pooled_conflict_rule'], why: "the primary's cap resolver starts with it" },
  { path: ['admin', 'pooled_priority_order'], why: "the primary's cap resolver starts with it" },
  { path: ['admin', 'audit_retention_days'], why: 'retention sweeps start with the primary' },
  { path: ['admin', 'spend_retention_months'], why: 'retention sweeps start with the primary' },
  { path: ['admin', 'identity_retention_days'], why: 'retention sweeps start with the primary' },
])

/** Whole blocks whose presence is fixed at boot (the primary starts their module or not). */
const PRESENCE_KEYS: readonly RestartKey[] = Object.freeze([
  { path: ['admin'], why: 'adding or removing the admin block starts or stops the spend module' },
  { path: ['oidc'], why: 'adding or removing sign-in changes what the primary discovers at boot' },
])

export interface Change {
  readonly path: Path
  readonly kind: 'added' | 'removed' | 'changed'
  readonly before: unknown
  readonly after: unknown
  /** Why the change waits for a restart; undefined when it applies live. */
  readonly restart: string | undefined
}

const isPlain = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)

/** `a` starts with `prefix`. */
const under = (a: Path, prefix: Path): boolean => prefix.length <= a.length && prefix.every((p, i) => a[i] === p)

function get (root: unknown, path: Path): unknown {
  let v = root
  for (const k of path) v = isPlain(v) || Array.isArray(v) ? (v as Record<string | number, unknown>)[k] : undefined
  return v
}

function leaves (a: unknown, b: unknown, path: Path, out: Change[]): void {
  if (isDeepStrictEqual(a, b)) return
  if (isPlain(a) && isPlain(b)) {
    for (const k of [...new Set([...Object.keys(a), ...Object.keys(b)])].sort()) leaves(a[k], b[k], [...path, k], out)
    return
  }
  if (Array.isArray(a) && Array.isArray(b) && a.length === b.length) {
    a.forEach((x, i) => { leaves(x, b[i], [...path, i], out) })
    return
  }
  const kind = a === undefined ? 'added' : b === undefined ? 'removed' : 'changed'
  out.push({ path, kind, before: a, after: b, restart: undefined })
}

/** Why a change at `path` needs a restart, or undefined. */
function restartReason (before: Config, after: Config, path: Path): string | undefined {
  for (const k of PRESENCE_KEYS) {
    if ((get(before, k.path) === undefined) !== (get(after, k.path) === undefined) && under(path, k.path)) return k.why
  }
  for (const k of RESTART_KEYS) if (under(path, k.path) || under(k.path, path)) return k.why
  return undefined
}

/** Every leaf that differs, sorted by path, each marked live or restart. */
export function diffConfigs (before: Readonly<Config>, after: Readonly<Config>): Change[] {
  const out: Change[] = []
  leaves(before, after, [], out)
  return out.map((c) => ({ ...c, restart: restartReason(before, after, c.path) }))
}

function setAt (root: Record<string, unknown>, path: Path, value: unknown): void {
  let v: unknown = root
  for (const k of path.slice(0, -1)) {
    const o = v as Record<string | number, unknown>
    if (!isPlain(o[k]) && !Array.isArray(o[k])) o[k] = {}
    v = o[k]
  }
  const last = path[path.length - 1] as string | number
  const o = v as Record<string | number, unknown>
  if (value === undefined) delete o[last]
  else o[last] = structuredClone(value)
}

/**
 * The config a reload applies: `after`, with every restart-only subtree kept as it runs now
 * (`before`). Unfrozen; the caller freezes it.
 */
export function liveConfig (before: Readonly<Config>, after: Readonly<Config>): Config {
  const out = structuredClone(after) as unknown as Record<string, unknown>
  for (const k of PRESENCE_KEYS) {
    if ((get(before, k.path) === undefined) !== (get(after, k.path) === undefined)) setAt(out, k.path, get(before, k.path))
  }
  for (const k of RESTART_KEYS) {
    const was = get(before, k.path)
    if (!isDeepStrictEqual(was, get(out, k.path)) && (k.path.length === 1 || get(out, k.path.slice(0, -1)) !== undefined)) setAt(out, k.path, was)
  }
  return out as unknown as Config
}

const SECRET_NAME = /secret|password|passphrase|api_?key|token|private|credential|assertion|service_account|_pem$|^key$|authorization|webhook|url_with_key/i

/** A change's path touches a secret (by key name, or a URL that may carry credentials). */
export function isSecretPath (path: Path): boolean {
  return path.some((p) => typeof p === 'string' && SECRET_NAME.test(p)) || path.includes('postgres_url') || path.includes('headers')
}

/** `a.b[2].c` */
export function formatPath (path: Path): string {
  return path.map((p, i) => typeof p === 'number' ? `[${p}]` : i === 0 ? p : `.${p}`).join('') || '(root)'
}

function show (v: unknown): string {
  const s = JSON.stringify(v)
  return s.length > 120 ? `${s.slice(0, 117)}...` : s
}

/**
 * One line for a change: `~ path: old → new` / `+ path: new` / `- path: (was old)`, secrets
 * redacted. `values: false` prints no value at all (the reload log: a value may come from a
 * `${file:}` secret whatever its key is called); `hidden(path)` marks more paths as secret.
 */
export function describeChange (c: Change, o: { values?: boolean, hidden?: (path: Path) => boolean } = {}): string {
  const mark = c.kind === 'added' ? '+' : c.kind === 'removed' ? '-' : '~'
  const tail = c.restart === undefined ? '' : ` [needs a restart: ${c.restart}]`
  if (o.values === false) return `${mark} ${formatPath(c.path)} ${c.kind}${tail}`
  const secret = isSecretPath(c.path) || o.hidden?.(c.path) === true ||
    ((Array.isArray(c.before) || Array.isArray(c.after) || isPlain(c.before) || isPlain(c.after)) && containsSecret(c.before, c.after))
  const body = secret
    ? c.kind === 'removed' ? '(secret removed)' : c.kind === 'added' ? '(secret set)' : '(secret changed)'
    : c.kind === 'added' ? show(c.after) : c.kind === 'removed' ? `(was ${show(c.before)})` : `${show(c.before)} → ${show(c.after)}`
  return `${mark} ${formatPath(c.path)}: ${body}${tail}`
}

/** An object or list value holds a secret-named key somewhere below it. */
function containsSecret (...vs: unknown[]): boolean {
  const walk = (v: unknown): boolean => {
    if (Array.isArray(v)) return v.some(walk)
    if (isPlain(v)) return Object.entries(v).some(([k, x]) => isSecretPath([k]) || walk(x))
    return false
  }
  return vs.some(walk)
}
