/**
 * deploy/kubernetes: every manifest parses into a valid object of its kind, and together they
 * form a consistent gateway (ports, probes, selectors, secret mounts, security, shutdown).
 * The second half breaks copies of the manifests on purpose to prove each rule can fail.
 */
import { readdirSync } from 'node:fs'
import t from 'tap'
import { parse as parseYaml } from 'yaml'
import { at, checkGatewaySet, checkObject } from './fixtures/manifest-checks.js'
import { fileRefs, parseYamlDocs, readRepo, repoPath, run, which } from './fixtures/repo.js'

const CONFIG_PATH = '/etc/weir/gateway.yaml'
const BASE = 'deploy/kubernetes/base'

const kustomization = parseYaml(readRepo(BASE, 'kustomization.yaml')) as { resources: string[] }
const load = (file: string): unknown[] => parseYamlDocs(readRepo(BASE, file), `${BASE}/${file}`)
const applied = kustomization.resources.flatMap(load)
const exampleSecret = load('secret.example.yaml')
const clone = <T>(v: T): T => structuredClone(v)

t.test('kustomization lists every manifest in the folder except the example Secret', async (t) => {
  const yamlFiles = readdirSync(repoPath(BASE)).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml')
  t.same([...kustomization.resources].sort(), yamlFiles.filter((f) => f !== 'secret.example.yaml').sort())
  t.notOk(kustomization.resources.includes('secret.example.yaml'), 'placeholder secret values are never applied')
})

t.test('each object is a valid object of its kind', async (t) => {
  const kinds = applied.map((o) => at(o, 'kind')).sort()
  t.same(kinds, ['ConfigMap', 'Deployment', 'HorizontalPodAutoscaler', 'Ingress', 'Namespace', 'PodDisruptionBudget', 'Service', 'ServiceAccount'])
  for (const o of [...applied, ...exampleSecret]) t.same(checkObject(o), [], `${String(at(o, 'kind'))} is valid`)
  for (const o of applied) {
    if (at(o, 'kind') !== 'Namespace') t.equal(at(o, 'metadata', 'namespace'), 'weir', `${String(at(o, 'kind'))} in namespace weir`)
  }
})

t.test('the objects form one consistent gateway', async (t) => {
  t.same(checkGatewaySet([...applied, ...exampleSecret], { configPath: CONFIG_PATH }), [])
})

t.test('gateway.yaml in the ConfigMap keeps every secret in a mounted file', async (t) => {
  const cm = applied.find((o) => at(o, 'kind') === 'ConfigMap')
  const config = parseYaml(String(at(cm, 'data', 'gateway.yaml')))
  const refs = fileRefs(config)
  t.ok(refs.length >= 3, 'jwt secret, OIDC client secret and Postgres URL come from files')
  for (const ref of refs) t.match(ref, /^\/etc\/weir\/secrets\/[a-z0-9-]+$/, ref)
  t.match(String(at(config, 'session', 'jwt_secret', 0)), /^\$\{file:/, 'jwt_secret is a list, ready for rotation')
  t.match(String(at(config, 'listen', 'public_url')), /^https:\/\//)
})

t.test('the Ingress is internal and long streams are not cut', async (t) => {
  const ing = applied.find((o) => at(o, 'kind') === 'Ingress')
  t.ok(at(ing, 'spec', 'ingressClassName'), 'an explicit ingress class, never the cluster default')
  t.ok(at(ing, 'spec', 'tls', 0, 'secretName'), 'TLS terminates at the Ingress')
  t.equal(at(ing, 'metadata', 'annotations', 'nginx.ingress.kubernetes.io/proxy-read-timeout'), '3600')
})

t.test('the checks catch broken manifests', async (t) => {
  const good = [...applied, ...exampleSecret]
  const idx = (kind: string): number => good.findIndex((o) => at(o, 'kind') === kind)
  const mutate = (kind: string, fn: (o: any) => void): unknown[] => {
    const copy = clone(good)
    fn(copy[idx(kind)])
    return copy
  }
  const container = (o: any): any => o.spec.template.spec.containers[0]
  const cases: Array<[string, unknown[], RegExp]> = [
    ['readiness on the wrong path', mutate('Deployment', (o) => { container(o).readinessProbe.httpGet.path = '/healthz' }), /readinessProbe path/],
    ['liveness on a missing port', mutate('Deployment', (o) => { container(o).livenessProbe.httpGet.port = 'metrics' }), /livenessProbe port/],
    ['container port differs from listen.port', mutate('Deployment', (o) => { container(o).ports[0].containerPort = 9090 }), /containerPort 9090 != listen.port 8080/],
    ['listen.port differs from the container port', mutate('ConfigMap', (o) => { o.data['gateway.yaml'] = String(o.data['gateway.yaml']).replace('port: 8080', 'port: 8081') }), /listen.port 8081/],
    ['selector not matching the template', mutate('Deployment', (o) => { o.spec.selector.matchLabels['app.kubernetes.io/name'] = 'other' }), /selector does not match/],
    ['secret mounted elsewhere', mutate('Deployment', (o) => { container(o).volumeMounts.find((m: any) => m.name === 'secrets').mountPath = '/secrets' }), /not under any volume mount/],
    ['secret key missing', mutate('Secret', (o) => { delete o.stringData['postgres-url'] }), /has no key postgres-url/],
    ['HPA aimed at another Deployment', mutate('HorizontalPodAutoscaler', (o) => { o.spec.scaleTargetRef.name = 'nope' }), /HPA does not target/],
    ['PDB selecting nothing', mutate('PodDisruptionBudget', (o) => { o.spec.selector.matchLabels = { app: 'x' } }), /PDB selector/],
    ['PDB blocking every eviction', mutate('PodDisruptionBudget', (o) => { o.spec.minAvailable = 2 }), /blocks every eviction/],
    ['root filesystem writable', mutate('Deployment', (o) => { container(o).securityContext.readOnlyRootFilesystem = false }), /readOnlyRootFilesystem/],
    ['capabilities kept', mutate('Deployment', (o) => { container(o).securityContext.capabilities.drop = [] }), /capabilities not dropped/],
    ['grace period shorter than the drain', mutate('Deployment', (o) => { o.spec.template.spec.terminationGracePeriodSeconds = 30 }), /terminationGracePeriodSeconds 30/],
    ['workers not matching the CPU request', mutate('Deployment', (o) => { container(o).args[4] = '8' }), /--workers 8 does not match/],
    ['wrong config path', mutate('Deployment', (o) => { container(o).args[2] = '/etc/claude/gateway.yaml' }), /lack --config/],
    ['no anti-affinity', mutate('Deployment', (o) => { delete o.spec.template.spec.affinity }), /anti-affinity/],
    ['Service selecting other pods', mutate('Service', (o) => { o.spec.selector = { app: 'x' } }), /Service selector/],
    ['Ingress to a missing Service port', mutate('Ingress', (o) => { o.spec.rules[0].http.paths[0].backend.service.port = { name: 'grpc' } }), /Ingress backend port/],
  ]
  for (const [name, objects, expected] of cases) {
    t.match(checkGatewaySet(objects, { configPath: CONFIG_PATH }).join('\n'), expected, name)
  }
  t.match(checkObject({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'x' }, spec: {} }).join('\n'), /matchLabels missing/)
  t.match(checkObject({ apiVersion: 'policy/v1beta1', kind: 'PodDisruptionBudget', metadata: { name: 'x' }, spec: { selector: { matchLabels: { a: 'b' } }, minAvailable: 1 } }).join('\n'), /expected policy\/v1/)
  t.match(checkObject({ apiVersion: 'v1', kind: 'Service', metadata: {}, spec: { selector: { a: 'b' }, ports: [{ port: 80 }] } }).join('\n'), /metadata.name missing/)
})

t.test('kustomize renders the base and the GKE overlay', { skip: which('kubectl') === undefined ? 'kubectl is not on PATH' : false }, async (t) => {
  for (const dir of ['deploy/kubernetes/base', 'deploy/kubernetes/gke']) {
    const r = run('kubectl', ['kustomize', dir])
    t.equal(r.status, 0, `kubectl kustomize ${dir}: ${r.stderr}`)
    if (r.status !== 0) continue
    const objects = parseYamlDocs(r.stdout, dir)
    for (const o of objects) t.same(checkObject(o), [], `${dir}: ${String(at(o, 'kind'))} valid`)
    t.same(checkGatewaySet([...objects, ...exampleSecret], { configPath: CONFIG_PATH }), [], `${dir}: consistent`)
    if (dir.endsWith('gke')) {
      const ing = objects.find((o) => at(o, 'kind') === 'Ingress')
      t.equal(at(ing, 'metadata', 'annotations', 'kubernetes.io/ingress.class'), 'gce-internal')
      t.equal(at(ing, 'spec', 'ingressClassName'), undefined, 'class annotation only, as GKE expects')
      const bc = objects.find((o) => at(o, 'kind') === 'BackendConfig')
      t.ok(Number(at(bc, 'spec', 'timeoutSec')) >= 3600, 'backend timeout lifted for streams')
      const svc = objects.find((o) => at(o, 'kind') === 'Service')
      t.match(String(at(svc, 'metadata', 'annotations', 'cloud.google.com/backend-config')), String(at(bc, 'metadata', 'name')))
    }
  }
})
