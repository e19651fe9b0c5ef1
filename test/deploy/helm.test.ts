/**
 * deploy/helm/weir: the chart's metadata and values parse, every template reference resolves
 * (values keys, named templates, balanced blocks) and, when `helm` is on PATH, the chart renders
 * into the same consistent gateway the plain manifests describe, in each supported variant.
 */
import { readdirSync } from 'node:fs'
import t from 'tap'
import { parse as parseYaml } from 'yaml'
import { at, checkGatewaySet } from './fixtures/manifest-checks.js'
import { fileRefs, packageJson, parseYamlDocs, readRepo, repoPath, run, which } from './fixtures/repo.js'

const CHART = 'deploy/helm/weir'
const CONFIG_PATH = '/etc/weir/gateway.yaml'
const chart = parseYaml(readRepo(CHART, 'Chart.yaml')) as Record<string, unknown>
const values = parseYaml(readRepo(CHART, 'values.yaml')) as Record<string, unknown>
const templateFiles = readdirSync(repoPath(CHART, 'templates')).filter((f) => /\.(ya?ml|tpl|txt)$/.test(f))
const templates = new Map(templateFiles.map((f) => [f, readRepo(CHART, 'templates', f)]))

/** Go-template actions of a text, without delimiters and trim markers. */
const actions = (text: string): string[] => [...text.matchAll(/\{\{-?\s*([\s\S]*?)\s*-?\}\}/g)].map((m) => m[1]!)

/** Problems with block nesting: every if/range/with/define closed by exactly one end. */
function blockProblems (text: string): string[] {
  let depth = 0
  for (const a of actions(text)) {
    if (/^\/\*/.test(a)) continue
    if (/^(if|range|with|define|block)\b/.test(a)) depth++
    else if (/^end\b/.test(a)) depth--
    if (depth < 0) return ['end without an open block']
  }
  return depth === 0 ? [] : [`${depth} block(s) left open`]
}

/** `.Values` paths used by a template that do not exist in the values document. */
function missingValues (text: string, vals: unknown): string[] {
  const missing: string[] = []
  for (const m of text.matchAll(/\.Values((?:\.[A-Za-z_][A-Za-z0-9_]*)+)/g)) {
    const path = m[1]!.slice(1).split('.')
    let cur: unknown = vals
    for (const key of path) {
      if (cur === null || typeof cur !== 'object' || !(key in (cur as object))) { missing.push(path.join('.')); break }
      cur = (cur as Record<string, unknown>)[key]
    }
  }
  return missing
}

t.test('Chart.yaml describes this release', async (t) => {
  t.equal(chart.apiVersion, 'v2')
  t.equal(chart.name, 'weir')
  t.match(String(chart.version), /^\d+\.\d+\.\d+$/)
  t.equal(chart.appVersion, packageJson().version, 'appVersion follows package.json')
})

t.test('values.yaml carries a gateway.yaml whose secrets are mounted files', async (t) => {
  const config = values.config
  t.equal(at(config, 'listen', 'port'), 8080)
  const refs = fileRefs(config)
  t.ok(refs.length >= 3)
  for (const ref of refs) t.match(ref, /^\/etc\/weir\/secrets\/[a-z0-9-]+$/)
  t.equal(values.readinessPath, '/readyz')
  t.ok(Number(values.terminationGracePeriodSeconds) > Number(values.preStopSleepSeconds) + Number(values.drainTimeoutMs) / 1000)
  t.equal(at(values, 'securityContext', 'readOnlyRootFilesystem'), true)
  t.equal(at(values, 'podSecurityContext', 'runAsNonRoot'), true)
})

t.test('templates are well-formed and reference only what exists', async (t) => {
  t.ok(templates.has('_helpers.tpl'))
  for (const kind of ['deployment', 'service', 'ingress', 'configmap', 'pdb', 'hpa', 'serviceaccount', 'secret']) {
    t.ok(templates.has(`${kind}.yaml`), `${kind}.yaml exists`)
  }
  const defined = new Set([...(templates.get('_helpers.tpl') ?? '').matchAll(/define\s+"([^"]+)"/g)].map((m) => m[1]!))
  for (const [file, text] of templates) {
    t.same(blockProblems(text), [], `${file}: blocks balanced`)
    t.same(missingValues(text, values), [], `${file}: every .Values path exists in values.yaml`)
    for (const m of text.matchAll(/(?:include|template)\s+"([^"]+)"/g)) t.ok(defined.has(m[1]!), `${file}: ${m[1]!} is defined`)
    for (const m of text.matchAll(/\$\.Template\.BasePath\s+"\/([^"]+)"/g)) t.ok(templates.has(m[1]!), `${file}: ${m[1]!} exists`)
  }
  const dep = templates.get('deployment.yaml') ?? ''
  t.match(dep, /path: \/healthz/)
  t.match(dep, /path: \{\{ \.Values\.readinessPath \}\}/)
  t.match(dep, `"--config", "${CONFIG_PATH}"`)
  t.match(dep, /mountPath: \/etc\/weir\/secrets/)
  t.match(dep, /checksum\/config/, 'config changes roll the pods')
})

t.test('the static template checks can fail', async (t) => {
  t.same(blockProblems('{{ if .a }}x'), ['1 block(s) left open'])
  t.same(blockProblems('{{- end }}'), ['end without an open block'])
  t.same(blockProblems('{{- range .x }}{{ with .y }}{{ end }}{{- end -}}'), [])
  t.same(missingValues('{{ .Values.image.nope }} {{ .Values.workers }}', values), ['image.nope'])
})

const helm = which('helm')
t.test('helm renders the chart in every variant', { skip: helm === undefined ? 'helm is not on PATH' : false }, async (t) => {
  const lint = run(helm!, ['lint', CHART, '--strict'])
  t.equal(lint.status, 0, `helm lint: ${lint.stdout}${lint.stderr}`)
  const render = (...set: string[]): unknown[] => {
    const r = run(helm!, ['template', 'weir', CHART, '--namespace', 'weir', ...set.flatMap((s) => ['--set', s])])
    t.equal(r.status, 0, `helm template ${set.join(' ')}: ${r.stderr}`)
    return r.status === 0 ? parseYamlDocs(r.stdout, 'helm template') : []
  }
  const kinds = (objs: unknown[]): string[] => objs.map((o) => String(at(o, 'kind'))).sort()

  const plain = render()
  t.same(kinds(plain), ['ConfigMap', 'Deployment', 'HorizontalPodAutoscaler', 'Ingress', 'PodDisruptionBudget', 'Service', 'ServiceAccount'])
  t.same(checkGatewaySet(plain, { configPath: CONFIG_PATH }), [], 'default values')

  const withSecret = render('secrets.create=true', 'secrets.values.jwt-secret=x', 'secrets.values.oidc-client-secret=x',
    'secrets.values.postgres-url=x', 'secrets.values.anthropic-api-key=x')
  t.ok(withSecret.some((o) => at(o, 'kind') === 'Secret'))
  t.same(checkGatewaySet(withSecret, { configPath: CONFIG_PATH }), [], 'chart-managed Secret holds every referenced key')
  const missingKey = render('secrets.create=true', 'secrets.values.jwt-secret=x')
  t.match(checkGatewaySet(missingKey, { configPath: CONFIG_PATH }).join('\n'), /has no key/, 'a missing key is caught')

  const gke = render('gke.internalIngress=true', 'ingress.className=')
  t.same(checkGatewaySet(gke, { configPath: CONFIG_PATH }), [], 'GKE variant')
  const ing = gke.find((o) => at(o, 'kind') === 'Ingress')
  t.equal(at(ing, 'metadata', 'annotations', 'kubernetes.io/ingress.class'), 'gce-internal')
  t.ok(gke.some((o) => at(o, 'kind') === 'BackendConfig'))

  const fixed = render('autoscaling.enabled=false', 'replicaCount=3', 'podAntiAffinity=hard', 'config.listen.port=9000')
  t.same(checkGatewaySet(fixed, { configPath: CONFIG_PATH }), [], 'no HPA, hard anti-affinity, other port')
  t.notOk(fixed.some((o) => at(o, 'kind') === 'HorizontalPodAutoscaler'))
  const dep = fixed.find((o) => at(o, 'kind') === 'Deployment')
  t.equal(at(dep, 'spec', 'replicas'), 3)
  t.equal(at(dep, 'spec', 'template', 'spec', 'containers', 0, 'ports', 0, 'containerPort'), 9000, 'port follows config.listen.port')

  const short = run(helm!, ['template', 'weir', CHART, '--set', 'terminationGracePeriodSeconds=20'])
  t.not(short.status, 0, 'a grace period shorter than the drain is refused')
  t.match(short.stderr, /terminationGracePeriodSeconds/)
})
