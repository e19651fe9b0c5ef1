/**
 * Writing a gateway.yaml and loading it, for the config tests: a minimal valid config (as an object
 * to edit, or as YAML with countable line numbers), line edits, and the BootError lines a refused
 * file produces.
 */
import type { Test } from 'tap'
import { stringify } from 'yaml'
import { type LoadedConfig, parseConfig } from '../../lib/config/load.js'
import { BootError, EX_CONFIG } from '../../lib/errors.js'

export const CONFIG_SECRET = 'a-secret-of-more-than-32-characters-long'

/** A minimal valid config as an object; `edit` changes it before it is written as YAML. */
export function baseYaml (edit?: (c: Record<string, any>) => void): string { // eslint-disable-line @typescript-eslint/no-explicit-any
  const c: Record<string, any> = { // eslint-disable-line @typescript-eslint/no-explicit-any
    listen: { host: '127.0.0.1', port: 8080 },
    oidc: { issuer: 'https://idp.example.com', client_id: 'weir', client_secret: 'weir-secret' },
    session: { jwt_secret: CONFIG_SECRET },
    store: { postgres_url: 'postgres://weir@db.example.com/weir' },
    upstreams: [{ provider: 'anthropic', auth: { api_key: 'sk-test' } }],
  }
  edit?.(c)
  return stringify(c)
}

/** `baseYaml()` as written, with line numbers a reader can count (tests append to it or edit lines). */
export const BASE_YAML = `listen:
  host: 127.0.0.1
  port: 8080
oidc:
  issuer: https://idp.example.com
  client_id: weir
  client_secret: weir-secret
session:
  jwt_secret: ${CONFIG_SECRET}
store:
  postgres_url: postgres://weir@db.example.com/weir
upstreams:
  - provider: anthropic
    auth:
      api_key: sk-test
`

/** BASE_YAML with line `n` (1-based) replaced by `text` (which may span several lines). */
export const editLine = (n: number, text: string): string => BASE_YAML.split('\n').map((l, i) => i === n - 1 ? text : l).join('\n')

/** BASE_YAML with `text` (one or more lines; '' inserts a blank line) inserted after line `n`. */
export function insertAfter (n: number, text: string): string {
  const lines = BASE_YAML.split('\n')
  lines.splice(n, 0, text)
  return lines.join('\n')
}

/** Load `text` as `gateway.yaml` with `env`. */
export const parse = (text: string, env: NodeJS.ProcessEnv = {}): LoadedConfig => parseConfig(text, 'gateway.yaml', env)

/** The lines of the BootError `fn` throws (fails the test when it does not throw one, or throws another error). */
export function errorsOf (t: Test, fn: () => unknown): string[] {
  try {
    fn()
  } catch (err) {
    t.ok(err instanceof BootError, 'throws a BootError')
    t.equal((err as BootError).exitCode, EX_CONFIG, 'exit code 78')
    return err instanceof BootError ? [...err.lines] : []
  }
  t.fail('expected the config to be refused')
  return []
}

/** The lines `text` is refused with. */
export const refuse = (t: Test, text: string, env: NodeJS.ProcessEnv = {}): string[] => errorsOf(t, () => parse(text, env))
