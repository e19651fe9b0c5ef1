/**
 * deploy/gcp: setup.sh is valid bash, provisions everything the Cloud Run track needs on a first
 * run and nothing on a second one (against a fake gcloud that remembers what exists), renders a
 * gateway.yaml whose secrets match what Cloud Run injects; the Terraform is `terraform fmt` clean,
 * offers the ingress and invoker choices, and wires the config file, port and probes consistently.
 */
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { parse as parseYaml } from 'yaml'
import { at } from './fixtures/manifest-checks.js'
import { readRepo, repoPath, run, which } from './fixtures/repo.js'

const SETUP = repoPath('deploy/gcp/setup.sh')
const TF = 'deploy/gcp/terraform'

t.test('setup.sh is strict, valid bash', async (t) => {
  const text = readRepo('deploy/gcp/setup.sh')
  t.match(text, /^#!\/usr\/bin\/env bash\n/)
  t.match(text, /^set -euo pipefail$/m)
  const r = run('bash', ['-n', SETUP])
  t.equal(r.status, 0, r.stderr)
})

t.test('shellcheck is clean', { skip: which('shellcheck') === undefined ? 'shellcheck is not on PATH' : false }, async (t) => {
  const r = run('shellcheck', [SETUP, repoPath('test/deploy/fixtures/fake-gcloud.sh')])
  t.equal(r.status, 0, r.stdout)
})

t.test('setup.sh against a fake gcloud', { skip: which('openssl') === undefined ? 'openssl is not on PATH' : false }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'weir-gcp-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const bin = join(dir, 'bin')
  const state = join(dir, 'state')
  for (const d of [bin, state]) mkdirSync(d, { recursive: true })
  for (const name of ['gcloud', 'docker']) {
    copyFileSync(repoPath('test/deploy/fixtures/fake-gcloud.sh'), join(bin, name))
    chmodSync(join(bin, name), 0o755)
  }
  const baseEnv = {
    PATH: `${bin}:${process.env.PATH ?? ''}`,
    HOME: dir,
    FAKE_GCP_STATE: state,
    PROJECT_ID: 'my-proj',
    OIDC_ISSUER: 'https://accounts.google.com',
    OIDC_CLIENT_ID: 'client-123',
    OIDC_CLIENT_SECRET: 'oidc-secret-value',
    ALLOWED_EMAIL_DOMAINS: 'example.com, example.org',
  }
  // Call log lines, without the flags every gcloud call in setup.sh carries.
  const calls = (): string[] => existsSync(join(state, 'calls.log'))
    ? readFileSync(join(state, 'calls.log'), 'utf8').trim().split('\n').map((l) => l.replace(' --project=my-proj --quiet', ''))
    : []
  const secret = (name: string): string => readFileSync(join(state, `secret-${name}`), 'utf8')
  const setup = (extra: Record<string, string> = {}): { status: number | null, out: string, newCalls: string[] } => {
    const before = calls().length
    const r = run('bash', [SETUP], { env: { ...baseEnv, ...extra } })
    return { status: r.status, out: r.stdout + r.stderr, newCalls: calls().slice(before) }
  }
  const deployOf = (lines: string[]): string => lines.find((c) => c.startsWith('gcloud run deploy')) ?? ''

  // First run: everything is created.
  const first = setup()
  t.equal(first.status, 0, first.out)
  const c1 = first.newCalls.join('\n')
  t.match(c1, /gcloud services enable .*aiplatform\.googleapis\.com/)
  t.match(c1, /gcloud iam service-accounts create weir-gateway/)
  t.match(c1, /projects add-iam-policy-binding my-proj --member=serviceAccount:weir-gateway@my-proj\.iam\.gserviceaccount\.com --role=roles\/aiplatform\.user/)
  t.match(c1, /gcloud sql instances create weir-db .*--network=projects\/my-proj\/global\/networks\/weir-vpc --no-assign-ip/)
  t.match(c1, /gcloud services vpc-peerings connect/)
  t.match(c1, /docker build --platform=linux\/amd64 --provenance=false -t us-east5-docker\.pkg\.dev\/my-proj\/weir\/weir:\d+\.\d+\.\d+/)
  t.match(c1, /docker push /)
  for (const s of ['weir-jwt-secret', 'weir-oidc-client-secret', 'weir-postgres-url', 'weir-gateway-config']) {
    t.match(c1, new RegExp(`gcloud secrets create ${s}`), `${s} created`)
    t.match(c1, new RegExp(`gcloud secrets add-iam-policy-binding ${s} .*roles/secretmanager\\.secretAccessor`), `${s} readable by the service account`)
  }
  const deploy = deployOf(first.newCalls)
  for (const flag of ['--min-instances=1', '--ingress=internal ', '--allow-unauthenticated', '--timeout=3600', '--no-cpu-throttling',
    '--vpc-egress=private-ranges-only', '--service-account=weir-gateway@my-proj.iam.gserviceaccount.com',
    '--args=serve,--config,/etc/weir/gateway.yaml,--workers,2', 'httpGet.path=/readyz', 'httpGet.path=/healthz']) {
    t.ok(deploy.includes(flag), `deploy has ${flag.trim()}`)
  }

  t.ok(secret('weir-jwt-secret').length >= 32, 'JWT secret long enough')
  t.equal(secret('weir-oidc-client-secret'), 'oidc-secret-value')
  t.match(secret('weir-postgres-url'), /^postgres:\/\/weir:[0-9a-f]{48}@10\.1\.2\.3:5432\/weir\?sslmode=require$/)
  const config = parseYaml(secret('weir-gateway-config'))
  t.equal(at(config, 'listen', 'port'), 8080)
  t.equal(at(config, 'listen', 'public_url'), 'https://weir-123456789.us-east5.run.app')
  t.same(at(config, 'listen', 'trusted_proxies'), ['169.254.0.0/16'])
  t.same(at(config, 'oidc', 'allowed_email_domains'), ['example.com', 'example.org'])
  t.same(at(config, 'upstreams'), [{ provider: 'vertex', region: 'us-east5', project_id: 'my-proj', auth: {} }])
  // Every ${NAME} the config needs is injected by the deploy command.
  const injected = new Set([...deploy.matchAll(/[,=]([A-Z][A-Z0-9_]+)=/g)].map((m) => m[1]!))
  const needed = [...secret('weir-gateway-config').matchAll(/\$\{([A-Z][A-Z0-9_]*)\}/g)].map((m) => m[1]!)
  t.same(needed.sort(), ['WEIR_JWT_SECRET', 'WEIR_OIDC_CLIENT_SECRET', 'WEIR_POSTGRES_URL'])
  for (const n of needed) t.ok(injected.has(n), `${n} is injected`)
  t.ok(deploy.includes('/etc/weir/gateway.yaml=weir-gateway-config:latest'), 'config mounted where serve reads it')

  // Second run: nothing new is created, nothing is overwritten, the service is redeployed.
  const second = setup({ OIDC_CLIENT_SECRET: '' })
  t.equal(second.status, 0, second.out)
  t.same(second.newCalls.filter((c) => / create | versions add |^docker |set-password/.test(c)), [], 'idempotent')
  t.ok(deployOf(second.newCalls), 'deploys again')

  // Third run: behind an internal load balancer, invoker check disabled; only the config changes.
  const third = setup({ INGRESS: 'internal-and-cloud-load-balancing', INVOKER: 'no-iam-check', PUBLIC_URL: 'https://gw.internal.example.com', PROXY_SUBNET_CIDR: '10.129.0.0/23' })
  t.equal(third.status, 0, third.out)
  t.same(third.newCalls.filter((c) => / versions add /.test(c)), ['gcloud secrets versions add weir-gateway-config --data-file=-'])
  const d3 = deployOf(third.newCalls)
  t.ok(d3.includes('--ingress=internal-and-cloud-load-balancing') && d3.includes('--no-invoker-iam-check') && !d3.includes('--allow-unauthenticated'))
  const config3 = parseYaml(secret('weir-gateway-config'))
  t.equal(at(config3, 'listen', 'public_url'), 'https://gw.internal.example.com')
  t.same(at(config3, 'listen', 'trusted_proxies'), ['169.254.0.0/16', '10.129.0.0/23'])

  // Refusals happen before any cloud call.
  for (const [env, why] of [[{ INGRESS: 'all' }, /public/], [{ INVOKER: 'everyone' }, /INVOKER/]] as const) {
    const r = setup(env)
    t.equal(r.status, 64, JSON.stringify(env))
    t.match(r.out, why)
    t.same(r.newCalls, [], 'no gcloud call')
  }
  const noProject = run('bash', [SETUP], { env: { ...baseEnv, PROJECT_ID: '' } })
  t.not(noProject.status, 0)
  t.match(noProject.stderr, /PROJECT_ID/)
})

const tfText = (file: string): string => readRepo(TF, file)

t.test('terraform fmt -check', { skip: which('terraform') === undefined ? 'terraform is not on PATH' : false }, async (t) => {
  const r = run('terraform', ['fmt', '-check', '-recursive', '-diff', repoPath(TF)])
  t.equal(r.status, 0, `terraform fmt would change:\n${r.stdout}${r.stderr}`)
  // The example tfvars file is formatted too (fmt only looks at .tfvars).
  const dir = mkdtempSync(join(tmpdir(), 'weir-tf-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  writeFileSync(join(dir, 'example.tfvars'), tfText('terraform.tfvars.example'))
  t.equal(run('terraform', ['fmt', '-check', join(dir, 'example.tfvars')]).status, 0, 'terraform.tfvars.example is formatted')
})

t.test('terraform offers the ingress and invoker choices, internal only', async (t) => {
  const vars = tfText('variables.tf')
  const block = (name: string): string => {
    const m = new RegExp(`variable "${name}" \\{[\\s\\S]*?\\n\\}`).exec(vars)
    return m?.[0] ?? ''
  }
  t.match(block('ingress'), /default\s+= "INGRESS_TRAFFIC_INTERNAL_ONLY"/)
  t.match(block('ingress'), /validation \{[\s\S]*INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER/)
  t.notMatch(block('ingress'), /"INGRESS_TRAFFIC_ALL"/, 'public ingress is not an option')
  t.match(block('invoker_policy'), /validation \{[\s\S]*"all_users", "no_iam_check"/)
  t.match(block('oidc_client_secret'), /sensitive\s+= true/)
  const runTf = tfText('run.tf')
  t.match(runTf, /ingress\s+= var\.ingress/)
  t.match(runTf, /invoker_iam_disabled = var\.invoker_policy == "no_iam_check"/)
  t.match(runTf, /count\s+= var\.invoker_policy == "all_users" \? 1 : 0[\s\S]*member\s+= "allUsers"/)
  t.match(runTf, /min_instance_count = 1/)
  t.match(runTf, /cpu_idle\s+= false/)
  t.match(runTf, /timeout\s+= "3600s"/)
  const main = tfText('main.tf')
  t.match(main, /role\s+= "roles\/aiplatform\.user"/)
  t.match(main, /ipv4_enabled\s+= false/, 'Cloud SQL has no public IP')
  t.match(main, /private_network = google_compute_network\.weir\.id/)
  t.match(main, /role\s+= "roles\/secretmanager\.secretAccessor"/)
})

t.test('terraform wires gateway.yaml, port and probes consistently', async (t) => {
  const runTf = tfText('run.tf')
  // Render the template the way templatefile() would, with sample values.
  const rendered = tfText('gateway.yaml.tftpl')
    .replace(/\$\{join\(", ", (\w+)\)\}/g, (_m, v: string) => v === 'trusted_proxies' ? '169.254.0.0/16' : 'example.com')
    .replace(/(?<!\$)\$\{(\w+)\}/g, (_m, v: string) => ({ public_url: 'https://gw.internal.example.com', max_connections: '5' } as Record<string, string>)[v] ?? `sample-${v}`)
    .replace(/\$\$\{/g, '${')
  const config = parseYaml(rendered)
  t.equal(at(config, 'listen', 'port'), 8080)
  t.match(runTf, new RegExp(`container_port = ${String(at(config, 'listen', 'port'))}`), 'container port = listen.port')
  for (const m of runTf.matchAll(/port = (\d+)/g)) t.equal(Number(m[1]), 8080, 'probes use the listen port')
  const needed = [...rendered.matchAll(/\$\{([A-Z][A-Z0-9_]*)\}/g)].map((m) => m[1]!)
  t.ok(needed.length === 3)
  for (const n of needed) t.match(runTf, new RegExp(`name = "${n}"\\s+value_source`), `${n} comes from Secret Manager`)
  const mount = /mount_path = "([^"]+)"/.exec(runTf)?.[1]
  const item = /path\s+= "([^"]+)"/.exec(runTf)?.[1]
  t.equal(`${mount ?? ''}/${item ?? ''}`, '/etc/weir/gateway.yaml', 'config file lands where serve reads it')
  t.match(runTf, /args\s+= \["serve", "--config", "\/etc\/weir\/gateway\.yaml", "--workers", tostring\(var\.workers\)\]/)
  t.match(runTf, /path = "\/readyz"/)
  t.match(runTf, /path = "\/healthz"/)
})
