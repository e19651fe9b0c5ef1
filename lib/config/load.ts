/**
 * Loads gateway.yaml once, at boot, in the primary.
 *
 * Steps:
 * 1. parse the YAML (syntax errors, duplicate keys, unresolved tags, several documents); any
 *    problem here stops the load, as the structure cannot be trusted;
 * 2. expand `${NAME}` and `${file:/abs/path}` on scalar values (interpolate.ts);
 * 3. validate against `ConfigSchema` with coercion and defaults, and refuse present keys listed in
 *    `NOT_SUPPORTED_YET`; a top-level `dev:` gets its own message. Schema failures at or under a
 *    value that failed to expand, or inside a refused key, are not reported (they follow from it).
 * Problems become one line each (`<file>:<line>:<col> <path>: <message>`, sorted by position) in a
 * `BootError` with exit code EX_CONFIG. On success the config is deep-frozen and hashed the way the
 * `config.load` audit event expects.
 *
 * Pure apart from reading the file and `${file:}` targets: no network, database or logging (the
 * caller logs `config.load` and the warnings).
 */
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { validate } from 'superstruct'
import { type Document, LineCounter, type YAMLError, parseDocument } from 'yaml'
import { BootError, EX_CONFIG } from '../errors.js'
import { checkPolicies } from '../policy/index.js'
import { interpolateDocument } from './interpolate.js'
import { type Path, type Problem, formatProblem, pathAtOffset, positionOf } from './locate.js'
import { describeFailure, pruneFailures } from './messages.js'
import { findRefusals, within } from './not-supported.js'
import { type Config, ConfigSchema, NOT_SUPPORTED_YET } from './schema.js'
import { isObj } from './schema/kit.js'
import { withEnv } from './schema/urls.js'
import { configWarnings } from './warnings.js'

/** A validated configuration and where it came from. */
export interface LoadedConfig {
  /** The resolved config: expanded, defaulted, deep-frozen. */
  readonly config: Readonly<Config>
  /** The path as given to the loader. */
  readonly path: string
  /** Hex SHA-256 of `JSON.stringify(config)`, for the `config.load` audit event. */
  readonly sha256: string
  /** Boot warnings, one formatted line each (same format as errors). */
  readonly warnings: readonly string[]
}

const DEV_MESSAGE = "Weir's gateway.yaml has no dev block: run `weir dev` for a local gateway " +
  '(embedded Postgres, dev IdP, mock upstream), or set store.postgres_url'

const MAX_ALIASES = 100

/** Recursively freeze a plain object graph. */
function deepFreeze<T> (v: T): T {
  if (typeof v === 'object' && v !== null && !Object.isFrozen(v)) {
    Object.freeze(v)
    for (const x of Object.values(v)) deepFreeze(x)
  }
  return v
}

function yamlProblem (doc: Document, lc: LineCounter, e: YAMLError): Problem {
  const offset = e.pos[0]
  const { line, col } = lc.linePos(offset)
  const path = pathAtOffset(doc, offset)
  const first = e.message.split('\n')[0] ?? e.code
  const message = e.code === 'DUPLICATE_KEY'
    ? 'duplicate key (each key may appear once in a mapping)'
    : e.code === 'MULTIPLE_DOCS'
      ? 'gateway.yaml must hold a single YAML document (found a second one)'
      : `YAML ${first.replace(/ at line \d+, column \d+.*$/s, '')}`
  return { path, line, col, message }
}

function fail (file: string, problems: readonly Problem[]): never {
  const sorted = [...problems].sort((a, b) => a.line - b.line || a.col - b.col)
  const lines = [...new Set(sorted.map(p => formatProblem(file, p)))]
  throw new BootError(lines, EX_CONFIG)
}

/**
 * Parse and validate gateway.yaml text. `path` labels messages and is returned as is; `env` feeds
 * `${NAME}` expansion and CLAUDE_GATEWAY_ALLOW_LOOPBACK. Throws `BootError` (EX_CONFIG) listing
 * every problem.
 */
export function parseConfig (text: string, path: string, env: NodeJS.ProcessEnv = process.env): LoadedConfig {
  const lc = new LineCounter()
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true })
  const yamlIssues = [...doc.errors, ...doc.warnings]
  if (yamlIssues.length > 0) fail(path, yamlIssues.map(e => yamlProblem(doc, lc, e)))

  // A value that could not be expanded keeps its text; schema failures at or under it are dropped
  // below, so the operator sees the expansion problem and every unrelated problem in one go.
  const expansion = interpolateDocument(doc, lc, env)

  const at = (p: Path, atKey = false): { line: number, col: number } => positionOf(doc, lc, p, atKey)
  let data: unknown
  try {
    data = doc.toJS({ maxAliasCount: MAX_ALIASES })
  } catch (err) {
    fail(path, [{ path: [], ...at([]), message: `YAML could not be resolved: ${(err as Error).message}` }])
  }
  if (!isObj(data)) {
    fail(path, [{ path: [], ...at([]), message: 'gateway.yaml must be a mapping of settings (listen, oidc, session, store, upstreams, …)' }])
  }

  const problems: Problem[] = [...expansion]
  if (Object.hasOwn(data, 'dev')) {
    problems.push({ path: ['dev'], ...at(['dev'], true), message: DEV_MESSAGE })
    const { dev: _dev, ...rest } = data
    data = rest
  }

  const refusals = findRefusals(data, NOT_SUPPORTED_YET)
  for (const r of refusals) problems.push({ path: r.path, ...at(r.path, r.atKey), message: r.message })

  const [err, value] = withEnv(env, () => validate(data, ConfigSchema, { coerce: true }))
  if (err !== undefined) {
    for (const f of pruneFailures(err.failures())) {
      const fp = f.path as Path
      if (refusals.some(r => within(fp, r.scope)) || expansion.some(p => within(fp, p.path))) continue
      const { message, atKey } = describeFailure(f)
      problems.push({ path: fp, ...at(fp, atKey), message })
    }
  }
  if (problems.length > 0 || value === undefined) fail(path, problems)

  const config = deepFreeze(structuredClone(value))
  const sha256 = createHash('sha256').update(JSON.stringify(config)).digest('hex')
  const warnings = configWarnings(config, env).map(w => formatProblem(path, { path: w.path, ...at(w.path), message: w.message }))
  // ── managed policies (lib/policy): each policy's settings against the Claude Code settings
  // schema, Desktop overlays, the managed.settings file; problems fail the load, warnings join the rest.
  const policy = checkPolicies(config)
  if (policy.problems.length > 0) fail(path, policy.problems.map(p => ({ path: p.path, ...at(p.path), message: p.message })))
  for (const w of policy.warnings) warnings.push(formatProblem(path, { path: w.path, ...at(w.path), message: w.message }))
  // ──
  return Object.freeze({ config, path, sha256, warnings: Object.freeze(warnings) })
}

/** Read and validate gateway.yaml at `path` (see `parseConfig`). Throws `BootError` (EX_CONFIG). */
export function loadConfig (path: string, env: NodeJS.ProcessEnv = process.env): LoadedConfig {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'read failed'
    throw new BootError([`${path}: cannot read the config file (${code})`], EX_CONFIG, { cause: err })
  }
  return parseConfig(text, path, env)
}
