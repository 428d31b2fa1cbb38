/**
 * The Helm chart, without a cluster: `helm lint --strict` and `helm template` for the defaults
 * and every ci/*-values.yaml scenario; every rendered object validated against the Kubernetes
 * schemas and type declarations; the pods held to the hardening and probe rules; the wiring of
 * every broker variable checked against VARIABLES and, for each scenario, the rendered settings
 * loaded by the broker's own configuration loader; values.yaml kept in sync with its schema.
 */
import { generateKeyPairSync } from 'node:crypto'
import { createServer } from 'node:http'
import { readdirSync } from 'node:fs'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { Ajv } from 'ajv'
import { parse } from 'yaml'
import { chartNodeFlags } from '../../bench/lib/chart.ts'
import { loadConfig, VARIABLES } from '../../src/config.ts'
import { bare, CHART, cleanEnv, freePort, helm, helmTemplate, readText, run, type K8sObject } from './helpers.ts'
import { checkPodSpec, schemaErrors, typeErrors, type Labelled } from './k8s.ts'

t.setTimeout(240_000)

type Json = Record<string, any>

const CI_DIR = join(CHART, 'ci')
/** The smallest values that render: the App Key, the App Secret and a JWT secret. */
const MINIMAL = join(CI_DIR, 'minimal-values.yaml')
const scenarios = readdirSync(CI_DIR).filter((f) => f.endsWith('-values.yaml')).sort()
  .map((f) => ({ name: f.replace(/-values\.yaml$/, ''), file: join(CI_DIR, f) as string | undefined }))
  .sort((a, b) => Number(b.name === 'minimal') - Number(a.name === 'minimal'))
const REQUIRED_SCENARIOS = ['minimal', 'existing-secret', 'redis-sentinel', 'redis-cluster', 'redis-managed', 'hpa-pdb', 'networkpolicy', 'servicemonitor', 'ingress', 'httproute', 'issuers-file']

const values = parse(readText('helm/chat-token-broker/values.yaml')) as Json
const schema = JSON.parse(readText('helm/chat-token-broker/values.schema.json')) as Json
const secretVariables = VARIABLES.filter((v) => v.secret === true).map((v) => v.name)
/** Variables the chart sets itself from dedicated values (they shape the pod or the policy). */
const CHART_OWNED = ['PORT', 'HOST', 'SHUTDOWN_GRACE_MS', 'SHUTDOWN_DELAY_MS', 'METRICS_PORT', 'REDIS_URL', 'REDIS_SENTINELS', 'REDIS_SENTINEL_NAME', 'REDIS_CLUSTER_NODES', 'REDIS_TLS', 'REDIS_KEY_PREFIX', 'REDIS_USERNAME', 'REDIS_TLS_CA_FILE', 'REDIS_TLS_CERT_FILE', 'REDIS_TLS_KEY_FILE', 'JWT_ISSUERS_FILE']
/** Where the chart's default differs from the broker's on purpose: behind its Service and ingress there is one proxy hop. */
const CHART_DEFAULTS: Record<string, string> = { TRUST_PROXY: '1' }

const rendered = new Map<string, Promise<K8sObject[]>>()
function render (scenario: { name: string, file: string | undefined }): Promise<K8sObject[]> {
  let objects = rendered.get(scenario.name)
  if (objects === undefined) {
    objects = helmTemplate(scenario.file === undefined ? [] : [scenario.file])
    rendered.set(scenario.name, objects)
  }
  return objects
}

function find (objects: K8sObject[], kind: string): Json | undefined {
  return objects.find((o) => o.kind === kind && o.metadata.annotations?.['helm.sh/hook'] === undefined) as Json | undefined
}

function scenarioValues (file: string | undefined): Json {
  return file === undefined ? {} : parse(readText(join('helm/chat-token-broker/ci', file.split('/').at(-1) as string))) as Json
}

t.test('a ci values file for every documented scenario', async (t) => {
  for (const name of REQUIRED_SCENARIOS) t.ok(scenarios.some((s) => s.name === name), `ci/${name}-values.yaml`)
})

t.test('Chart.yaml: apiVersion v2, appVersion, kubeVersion', async (t) => {
  const chart = parse(readText('helm/chat-token-broker/Chart.yaml')) as Json
  t.equal(chart.apiVersion, 'v2')
  t.equal(chart.appVersion, (JSON.parse(readText('package.json')) as Json).version, 'appVersion is the package version')
  t.match(chart.version, /^\d+\.\d+\.\d+/)
  t.match(chart.kubeVersion, />=\s*1\.30/, 'native preStop sleep needs Kubernetes 1.30')
})

t.test('helm lint --strict: defaults and every scenario', async (t) => {
  for (const scenario of scenarios) {
    const args = ['lint', '--strict', CHART]
    if (scenario.file !== undefined) args.push('--values', scenario.file)
    const { stdout } = await helm(args)
    t.match(stdout, /1 chart\(s\) linted, 0 chart\(s\) failed/, `${scenario.name}: lint passes`)
    t.notMatch(stdout, /\[(WARNING|ERROR)\]/, `${scenario.name}: no warnings`)
  }
})

t.test('rendered objects: valid against the Kubernetes schemas', async (t) => {
  for (const scenario of scenarios) {
    const objects = await render(scenario)
    t.ok(objects.length >= 5, `${scenario.name}: ${objects.length} objects`)
    for (const object of objects) {
      t.same(await schemaErrors(object), [], `${scenario.name}: ${object.kind} ${object.metadata.name}`)
      t.equal(object.metadata.namespace, 'chat', `${scenario.name}: ${object.kind} in the release namespace`)
      t.equal(object.metadata.labels?.['app.kubernetes.io/instance'], 'ctb', `${scenario.name}: ${object.kind} labelled`)
    }
  }
})

t.test('rendered objects: no unknown or misspelt field (TypeScript declarations)', async (t) => {
  const all: Labelled[] = []
  for (const scenario of scenarios) {
    for (const object of await render(scenario)) all.push({ label: `${scenario.name}: ${object.kind} ${object.metadata.name}`, object })
  }
  // A control: the check must catch a typo that the JSON-schema validators let through.
  const typo = structuredClone(find(await render(scenarios[0] as typeof scenarios[0]), 'Deployment')) as Json
  typo.spec.template.spec.containers[0].readinesProbe = typo.spec.template.spec.containers[0].readinessProbe
  all.push({ label: 'control', object: typo as K8sObject })
  const errors = await typeErrors(all)
  t.match(errors.get('control')?.join('\n') ?? '', /readinesProbe/, 'the control typo is reported')
  t.same(await schemaErrors(typo as K8sObject), [], '(the schema validator alone misses it)')
  for (const { label } of all.filter((o) => o.label !== 'control')) t.same(errors.get(label) ?? [], [], label)
})

t.test('Deployment: hardened pod, probes, resources, preStop, grace period, checksums, spread', async (t) => {
  for (const scenario of scenarios) {
    const objects = await render(scenario)
    const deployment = find(objects, 'Deployment') as Json
    const pod = deployment.spec.template
    const spec = pod.spec
    const label = scenario.name
    checkPodSpec(t, spec, label, { probeKind: 'httpGet' })
    const container = spec.containers[0]
    t.same(container.ports.find((p: Json) => p.name === 'http')?.containerPort, 8080, `${label}: http port`)
    t.ok(container.lifecycle?.preStop?.sleep?.seconds > 0, `${label}: native preStop sleep`)
    const configMap = find(objects, 'ConfigMap') as Json
    // The broker's own close: SHUTDOWN_DELAY_MS, then SHUTDOWN_GRACE_MS, then a 2 s forced-exit backstop.
    const closeMs = Number(configMap.data.SHUTDOWN_GRACE_MS) + Number(configMap.data.SHUTDOWN_DELAY_MS ?? 0)
    const preStop = container.lifecycle.preStop.sleep.seconds as number
    t.ok(spec.terminationGracePeriodSeconds > preStop + closeMs / 1000 + 2,
      `${label}: terminationGracePeriodSeconds ${spec.terminationGracePeriodSeconds} > preStop ${preStop} + delay and grace ${closeMs / 1000} + 2`)
    t.match(pod.metadata.annotations['checksum/config'], /^[a-f0-9]{64}$/, `${label}: checksum/config`)
    t.match(pod.metadata.annotations['checksum/secret'], /^[a-f0-9]{64}$/, `${label}: checksum/secret`)
    const tmp = spec.volumes.find((v: Json) => v.emptyDir !== undefined && container.volumeMounts.some((m: Json) => m.name === v.name && m.mountPath === '/tmp'))
    t.ok(tmp, `${label}: writable /tmp from an emptyDir`)
    t.ok(spec.topologySpreadConstraints?.length > 0, `${label}: topology spread`)
    for (const constraint of spec.topologySpreadConstraints ?? []) {
      t.same(constraint.labelSelector.matchLabels, deployment.spec.selector.matchLabels, `${label}: spread over this release's pods`)
    }
    for (const [key, value] of Object.entries(deployment.spec.selector.matchLabels as Record<string, string>)) {
      t.equal(pod.metadata.labels[key], value, `${label}: pod carries selector label ${key}`)
    }
    t.same(container.envFrom, [{ configMapRef: { name: configMap.metadata.name } }], `${label}: settings from the ConfigMap`)
  }
})

t.test('checksums change with the settings they cover', async (t) => {
  const annotations = async (sets: string[]): Promise<Json> => (find(await helmTemplate([MINIMAL], sets), 'Deployment') as Json).spec.template.metadata.annotations
  const base = await annotations([])
  const logLevel = await annotations(['config.LOG_LEVEL=debug'])
  t.not(logLevel['checksum/config'], base['checksum/config'], 'a config change rolls the pods')
  t.equal(logLevel['checksum/secret'], base['checksum/secret'])
  const secret = await annotations(['secret.values.ADMIN_API_KEY=an-admin-key-that-is-at-least-32-characters'])
  t.not(secret['checksum/secret'], base['checksum/secret'], 'a secret change rolls the pods')
})

t.test('Service, ServiceAccount, HPA, PDB, NetworkPolicy, ServiceMonitor, Ingress, HTTPRoute wired to the Deployment', async (t) => {
  for (const scenario of scenarios) {
    const objects = await render(scenario)
    const label = scenario.name
    const deployment = find(objects, 'Deployment') as Json
    const selector = deployment.spec.selector.matchLabels as Json
    const container = deployment.spec.template.spec.containers[0]
    const containerPorts = new Set(container.ports.map((p: Json) => p.name))
    const service = find(objects, 'Service') as Json
    t.same(service.spec.selector, selector, `${label}: Service selects the pods`)
    for (const port of service.spec.ports) t.ok(containerPorts.has(port.targetPort), `${label}: Service port ${port.name} targets a container port`)
    const servicePorts = new Map(service.spec.ports.map((p: Json) => [p.name, p.port]))

    const account = find(objects, 'ServiceAccount') as Json
    t.equal(account.automountServiceAccountToken, false, `${label}: ServiceAccount token not automounted`)
    t.equal(deployment.spec.template.spec.serviceAccountName, account.metadata.name)

    const v = scenarioValues(scenario.file)
    const hpa = find(objects, 'HorizontalPodAutoscaler')
    const pdb = find(objects, 'PodDisruptionBudget')
    const autoscaling = v.autoscaling?.enabled === true
    const minReplicas = autoscaling ? (v.autoscaling.minReplicas ?? values.autoscaling.minReplicas) : (v.replicaCount ?? values.replicaCount)
    t.equal(hpa !== undefined, autoscaling, `${label}: HPA only with autoscaling`)
    t.equal(deployment.spec.replicas === undefined, autoscaling, `${label}: replicas left to the HPA when autoscaling`)
    if (hpa !== undefined) {
      t.equal(hpa.spec.scaleTargetRef.name, deployment.metadata.name)
      t.ok(hpa.spec.metrics.length > 0, `${label}: HPA has metrics`)
    }
    t.equal(pdb !== undefined, minReplicas > 1, `${label}: PDB only with more than one replica (${minReplicas})`)
    if (pdb !== undefined) {
      t.same(pdb.spec.selector.matchLabels, selector, `${label}: PDB selects the pods`)
      // One pod out at a time, whatever the count: a drain never takes several replicas at once.
      if (v.podDisruptionBudget === undefined) t.same([pdb.spec.maxUnavailable, pdb.spec.minAvailable], [1, undefined], `${label}: PDB allows one pod out at a time`)
    }
    if (hpa !== undefined) {
      const behavior = hpa.spec.behavior
      t.equal(behavior?.scaleDown?.stabilizationWindowSeconds, 300, `${label}: HPA scales down only after 5 calm minutes`)
      if (v.autoscaling.behavior === undefined) {
        t.equal(behavior?.scaleUp?.stabilizationWindowSeconds, 0, `${label}: HPA scales up at once`)
        t.same(behavior?.scaleDown?.policies, [{ type: 'Percent', value: 20, periodSeconds: 60 }], `${label}: and then by 20 % a minute`)
      }
    }
    const spread = deployment.spec.template.spec.topologySpreadConstraints as Json[] | undefined
    t.same(spread?.map((c) => c.topologyKey), ['topology.kubernetes.io/zone', 'kubernetes.io/hostname'], `${label}: pods spread over zones and nodes`)
    const redisTls = v.redis?.tlsSecret?.name as string | undefined
    const volume = deployment.spec.template.spec.volumes.find((vol: Json) => vol.name === 'redis-tls')
    t.equal(volume?.secret?.secretName, redisTls, `${label}: the Redis TLS Secret is mounted only when named`)
    if (redisTls !== undefined) {
      const configMap = find(objects, 'ConfigMap') as Json
      t.equal(configMap.data.REDIS_TLS_CA_FILE, `/etc/chat-token-broker/redis-tls/${String(v.redis.tlsSecret.caKey)}`, `${label}: REDIS_TLS_CA_FILE points into the mount`)
      t.ok(container.volumeMounts.some((m: Json) => m.name === 'redis-tls' && m.readOnly === true), `${label}: mounted read-only`)
    }

    const policy = find(objects, 'NetworkPolicy')
    t.equal(policy !== undefined, v.networkPolicy?.enabled === true, `${label}: NetworkPolicy only when enabled`)
    if (policy !== undefined) {
      t.same(policy.spec.podSelector.matchLabels, selector)
      t.same(policy.spec.policyTypes, ['Ingress', 'Egress'], 'default deny both ways')
      const egressPorts = policy.spec.egress.flatMap((rule: Json) => rule.ports.map((p: Json) => `${p.port}/${p.protocol}`))
      for (const port of ['53/UDP', '53/TCP', '443/TCP', '6379/TCP']) t.ok(egressPorts.includes(port), `egress ${port}`)
      t.equal(policy.spec.egress.length, 3, 'egress: DNS, Redis, HTTPS and nothing else')
      const namespaces = policy.spec.ingress[0].from[0].namespaceSelector.matchExpressions[0].values
      t.ok(namespaces.includes('chat') && namespaces.includes('mobile-backend'), 'ingress from the release and chosen namespaces')
      t.notOk(policy.spec.ingress.some((rule: Json) => rule.from === undefined || rule.from.length === 0), 'no ingress rule open to everyone')
    }

    const monitor = objects.find((o) => o.kind === 'ServiceMonitor') as Json | undefined
    t.equal(monitor !== undefined, v.metrics?.serviceMonitor?.enabled === true, `${label}: ServiceMonitor only when enabled`)
    if (monitor !== undefined) {
      for (const [key, value] of Object.entries(monitor.spec.selector.matchLabels as Record<string, string>)) {
        t.equal(service.metadata.labels[key], value, `selects the Service (${key})`)
      }
      for (const endpoint of monitor.spec.endpoints) {
        t.ok(servicePorts.has(endpoint.port), `scrapes Service port ${endpoint.port}`)
        t.equal(endpoint.path, '/metrics')
      }
    }

    const ingress = objects.find((o) => o.kind === 'Ingress') as Json | undefined
    t.equal(ingress !== undefined, v.ingress?.enabled === true, `${label}: Ingress only when enabled`)
    for (const rule of ingress?.spec.rules ?? []) {
      for (const path of rule.http.paths) {
        t.equal(path.backend.service.name, service.metadata.name)
        t.ok(servicePorts.has(path.backend.service.port.name), 'Ingress backend port exists')
      }
    }
    const route = objects.find((o) => o.kind === 'HTTPRoute') as Json | undefined
    t.equal(route !== undefined, v.httpRoute?.enabled === true, `${label}: HTTPRoute only when enabled`)
    for (const rule of route?.spec.rules ?? []) {
      for (const ref of rule.backendRefs) {
        t.equal(ref.name, service.metadata.name)
        t.ok([...servicePorts.values()].includes(ref.port), 'HTTPRoute backend port exists')
      }
    }
  }
})

/** The broker's environment as the pod would see it: ConfigMap, then env (secrets resolved). */
function podEnvironment (t: Test, objects: K8sObject[], secretData: Record<string, string>): Record<string, string> {
  const deployment = find(objects, 'Deployment') as Json
  const configMap = find(objects, 'ConfigMap') as Json
  const secret = find(objects, 'Secret') as Json | undefined
  const env: Record<string, string> = { ...configMap.data }
  for (const entry of deployment.spec.template.spec.containers[0].env ?? []) {
    if (entry.value !== undefined) env[entry.name] = entry.value
    const ref = entry.valueFrom?.secretKeyRef
    if (ref === undefined) continue
    const fromChart = secret !== undefined && secret.metadata.name === ref.name ? secret.data?.[ref.key] : undefined
    const value = fromChart === undefined ? secretData[ref.key] : Buffer.from(fromChart, 'base64').toString()
    if (value !== undefined) env[entry.name] = value
    else t.ok(ref.optional, `${entry.name}: a missing key is tolerated only when optional`)
  }
  return env
}

t.test('every broker variable is wired: config, chart-owned settings or the Secret', async (t) => {
  const configKeys = Object.keys(values.config)
  const secretKeys = Object.keys(values.secret.keys)
  const names = VARIABLES.map((v) => v.name)
  t.same([...configKeys, ...CHART_OWNED, ...secretKeys].sort(), [...names].sort(), 'config + chart-owned + secret keys = VARIABLES, each once')
  t.same([...secretKeys].sort(), [...secretVariables].sort(), 'the Secret holds exactly the secret variables')
  t.same(Object.keys(values.secret.values).sort(), [...secretVariables].sort(), 'secret.values offers every secret variable')
  for (const spec of VARIABLES.filter((v) => configKeys.includes(v.name))) {
    t.equal(String(values.config[spec.name]), CHART_DEFAULTS[spec.name] ?? spec.default ?? '', `config.${spec.name} defaults to the broker's default (or the chart's, on purpose)`)
  }

  // Everything set at once: each variable reaches the container under its own name.
  // (An existing Secret: every secret key is referenced, whichever JWT mode it holds.)
  const sets = ['config.NEXCONN_APP_KEY=k', 'secret.existingSecret=s', 'redis.url=redis://r:6379', 'metrics.port=9090', 'redis.tls=true', 'config.DOCS_ENABLED=true', 'jwtIssuers.existingSecretKey=issuers.yaml',
    'redis.username=broker', 'redis.tlsSecret.name=redis-tls', 'redis.tlsSecret.certKey=tls.crt', 'redis.tlsSecret.keyKey=tls.key']
  const objects = await helmTemplate([], sets)
  const configMap = find(objects, 'ConfigMap') as Json
  const deployment = find(objects, 'Deployment') as Json
  const env = deployment.spec.template.spec.containers[0].env as Json[]
  const reached = new Set([...Object.keys(configMap.data), ...env.map((e) => e.name)])
  for (const name of names.filter((n) => !['REDIS_SENTINELS', 'REDIS_SENTINEL_NAME', 'REDIS_CLUSTER_NODES'].includes(n) && (values.config[n] === undefined || values.config[n] !== ''))) {
    t.ok(reached.has(name), `${name} reaches the container`)
  }
  for (const name of secretVariables) {
    t.notOk(name in configMap.data, `${name} is not in the ConfigMap`)
    t.ok(env.find((e) => e.name === name)?.valueFrom?.secretKeyRef, `${name} comes from the Secret`)
  }
  const sentinel = find(await helmTemplate([MINIMAL], ['redis.sentinel.nodes={s1:26379,s2:26379}', 'redis.sentinel.masterName=m', 'secret.existingSecret=s']), 'ConfigMap') as Json
  t.equal(sentinel.data.REDIS_SENTINELS, 's1:26379,s2:26379')
  t.equal(sentinel.data.REDIS_SENTINEL_NAME, 'm')
  const cluster = find(await helmTemplate([MINIMAL], ['redis.cluster.nodes={c1:6379,c2:6379}', 'secret.existingSecret=s']), 'ConfigMap') as Json
  t.equal(cluster.data.REDIS_CLUSTER_NODES, 'c1:6379,c2:6379')
})

t.test('each scenario renders a configuration the broker accepts', async (t) => {
  // What an operator would put in the existing Secret, under the key names of each scenario.
  const existing = {
    'nexconn-app-secret': 'app-secret',
    'app-secret': 'app-secret',
    'jwt-secret': 'a-jwt-secret-that-is-long-enough-for-hs256',
    'redis-password': 'a-redis-password',
    'token-encryption-key': Buffer.alloc(32, 2).toString('base64'),
    'encryption-key': Buffer.alloc(32, 2).toString('base64')
  }
  const ecPublicKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' }).toString()
  for (const scenario of scenarios) {
    const objects = await render(scenario)
    const env = podEnvironment(t, objects, existing)
    const v = scenarioValues(scenario.file)
    // JWKS mode and the secret key are exclusive: drop the operator's JWT secret when JWKS is set.
    if (env.JWT_JWKS_URL !== undefined || env.JWT_ALGORITHMS?.startsWith('ES') === true) delete env.JWT_SECRET
    if (env.JWT_ALGORITHMS?.startsWith('ES') === true) env.JWT_PUBLIC_KEY = ecPublicKey
    // A mounted issuers file: what the pod would read at that path.
    const readFile = (path: string): string => {
      const secret = find(objects, 'Secret') as Json | undefined
      const data = secret?.data?.['jwt-issuers.yaml']
      if (path === env.JWT_ISSUERS_FILE && data !== undefined) return Buffer.from(data, 'base64').toString()
      // The Redis CA and client certificate, mounted from the operator's Secret.
      if (path.startsWith('/etc/chat-token-broker/redis-tls/')) return 'PEM'
      throw Object.assign(new Error(`no file ${path}`), { code: 'ENOENT' })
    }
    if (env.JWT_ISSUERS_FILE !== undefined) delete env.JWT_SECRET
    try {
      const config = loadConfig(env, { runMode: 'production', readFile })
      t.pass(`${scenario.name}: accepted`)
      if (env.JWT_ISSUERS_FILE !== undefined) t.equal(config.jwt.providers.length, v.jwtIssuers.list.length, `${scenario.name}: every issuer of jwtIssuers.list`)
      t.equal(config.server.host, '0.0.0.0', `${scenario.name}: listens on all interfaces in the pod`)
      if (v.redis !== undefined) t.ok(config.redis, `${scenario.name}: Redis configured`)
    } catch (err) {
      t.fail(`${scenario.name}: ${(err as Error).message}`)
    }
  }
})

t.test('render guards: settings that cannot work stop helm with a clear message', async (t) => {
  const cases: Array<[string[], RegExp]> = [
    [['replicaCount=2'], /needs Redis/],
    [['autoscaling.enabled=true'], /needs Redis/],
    [['redis.url=redis://a:6379', 'redis.cluster.nodes={b:6379}', 'secret.existingSecret=s'], /only one of/],
    [['redis.sentinel.nodes={s:26379}', 'secret.existingSecret=s'], /masterName is required/],
    [['redis.url=redis://a:6379', 'secret.existingSecret=s', 'redis.tlsSecret.name=t', 'redis.tlsSecret.certKey=tls.crt'], /keyKey is required/],
    [['redis.url=redis://a:6379', 'secret.values.NEXCONN_APP_SECRET=x'], /TOKEN_ENCRYPTION_KEY/],
    [['shutdown.terminationGracePeriodSeconds=12'], /must exceed/],
    [['shutdown.delayMs=5000', 'shutdown.terminationGracePeriodSeconds=20'], /must exceed/],
    [['metrics.port=8080'], /must differ/],
    [['httpRoute.enabled=true'], /parentRefs/]
  ]
  for (const [sets, message] of cases) {
    await t.rejects(helmTemplate([MINIMAL], sets), { message }, sets.join(' '))
  }
})

t.test('missing values stop helm template with their names; a secret under config points to where secrets go', async (t) => {
  const cases: Array<[string[], string[], RegExp]> = [
    [[], [], /config\.NEXCONN_APP_KEY is required/],
    [[], ['config.NEXCONN_APP_KEY=k'], /secret\.values\.NEXCONN_APP_SECRET is required .*secret\.existingSecret .*"nexconn-app-secret"/],
    [[], ['config.NEXCONN_APP_KEY=k', 'secret.values.NEXCONN_APP_SECRET=s'], /How are end-user JWTs verified\? Set one of config\.JWT_JWKS_URL .*config\.JWT_OIDC_ISSUER .*secret\.values\.JWT_SECRET, secret\.values\.JWT_PUBLIC_KEY or jwtIssuers\.list/],
    [[MINIMAL], ['secret.values.JWT_SECRET=', 'config.JWT_OIDC_ISSUER=https://idp.example.com/'], /config\.JWT_OIDC_ISSUER needs config\.JWT_AUDIENCE \(or config\.JWT_CLIENT_IDS\)/],
    [[MINIMAL], ['jwtIssuers.list[0].issuer=a', 'jwtIssuers.list[0].secret=s'], /Set only one JWT key mode; found jwtIssuers and secret\.values\.JWT_SECRET/],
    [[MINIMAL], ['secret.values.JWT_SECRET=', 'jwtIssuers.list[0].issuer=a', 'config.JWT_AUDIENCE=x'], /config\.JWT_AUDIENCE: jwtIssuers replaces the single-issuer settings/],
    [[MINIMAL], ['shutdown.graceMs=5000'], /shutdown\.graceMs \(5000\) must be at least config\.NEXCONN_DEADLINE_MS \(8000\)/],
    [[MINIMAL], ['config.JWT_JWKS_URL=https://idp.example.com/jwks'], /Set only one JWT key mode; found config\.JWT_JWKS_URL and secret\.values\.JWT_SECRET/],
    [[], ['config.NEXCONN_APP_KEY=k', 'secret.existingSecret=s', 'config.JWT_JWKS_URL=https://idp.example.com/jwks'], /config\.JWT_JWKS_URL needs config\.JWT_ISSUER and config\.JWT_AUDIENCE \(or config\.JWT_CLIENT_IDS\)/],
    [[MINIMAL], ['config.JWT_SECRET=a-secret-in-the-wrong-place'], /config\.JWT_SECRET: secrets do not go under config .*Set secret\.values\.JWT_SECRET, or keep it in the Secret named by secret\.existingSecret under the key "jwt-secret"/],
    [[MINIMAL], ['config.NEXCONN_APP_SECRET_FILE=/run/secrets/x'], /config\.NEXCONN_APP_SECRET_FILE: secrets do not go under config/]
  ]
  for (const [files, sets, message] of cases) {
    await t.rejects(helmTemplate(files, sets), { message }, [...files.map((f) => `-f ${f.slice(CHART.length + 1)}`), ...sets].join(' ') || 'no values')
  }
  const stderr = await helmTemplate([MINIMAL], ['config.JWT_SECRET=a-secret-in-the-wrong-place']).then(() => '', (err: { stderr?: string }) => err.stderr ?? '')
  t.match(stderr, /secrets do not go under config/)
  t.notMatch(stderr, /a-secret-in-the-wrong-place/, 'helm\'s own output does not echo the value')
})

t.test('exposure by default: metrics on their own port, the ingress and route carry the API only, no docs UI', async (t) => {
  const objects = await helmTemplate([MINIMAL], ['ingress.enabled=true', 'httpRoute.enabled=true', 'httpRoute.parentRefs[0].name=public'])
  const configMap = find(objects, 'ConfigMap') as Json
  t.equal(configMap.data.METRICS_PORT, '9090', 'METRICS_PORT set: /metrics is not on the API port')
  t.notOk('DOCS_ENABLED' in configMap.data, 'DOCS_ENABLED left unset: off under the image\'s NODE_ENV=production')
  const service = find(objects, 'Service') as Json
  t.same(service.spec.ports.map((p: Json) => p.name), ['http', 'metrics'])
  const ingress = find(objects, 'Ingress') as Json
  const paths = ingress.spec.rules.flatMap((rule: Json) => rule.http.paths.map((p: Json) => p.path)) as string[]
  const route = find(objects, 'HTTPRoute') as Json
  const matches = route.spec.rules.flatMap((rule: Json) => rule.matches.map((m: Json) => m.path.value)) as string[]
  for (const path of [...paths, ...matches]) {
    for (const internal of ['/metrics', '/docs', '/openapi.json', '/livez']) t.notOk(internal.startsWith(path.replace(/\/$/, '') + (path === '/' ? '' : '/')) || internal === path || path === '/', `${path} does not route ${internal}`)
  }
  t.same(paths, ['/v1'])
  t.same(matches, ['/v1'])
})

/** Kubernetes memory quantity → MiB. */
function mebibytes (quantity: string): number {
  const match = /^(\d+(?:\.\d+)?)(Ki|Mi|Gi|M|G)?$/.exec(quantity)
  if (match === null) throw new Error(`quantity ${quantity}`)
  const factor: Record<string, number> = { Ki: 1 / 1024, Mi: 1, Gi: 1024, M: 1e6 / 1048576, G: 1e9 / 1048576, '': 1 / 1048576 }
  return Number(match[1]) * (factor[match[2] ?? ''] as number)
}

t.test('memory requests and limits follow docs/benchmarks.md', async (t) => {
  const bench = readText('docs/benchmarks.md')
  const steady = Number(/resident memory after a forced GC, 100,000 users \| (\d+)(?:\.\d+)? MiB/.exec(bench)?.[1])
  const peaks = [...bench.matchAll(/peak resident memory, [\d,]+ users \| (\d+)(?:\.\d+)? MiB/g)].map((m) => Number(m[1]))
  const peak = Math.max(...peaks)
  t.ok(steady > 0 && peaks.length === 2 && peak > steady, `benchmarks: ${steady} MiB after a GC, ${peak} MiB at the peak`)
  for (const scenario of scenarios) {
    const container = (find(await render(scenario), 'Deployment') as Json).spec.template.spec.containers[0]
    t.ok(mebibytes(container.resources.requests.memory) >= steady, `${scenario.name}: request ${container.resources.requests.memory} ≥ ${steady} MiB (after 100,000 users)`)
    t.ok(mebibytes(container.resources.limits.memory) >= peak * 1.15, `${scenario.name}: limit ${container.resources.limits.memory} ≥ the ${peak} MiB peak + 15 %`)
  }
})

t.test('NODE_OPTIONS: the heap sized from the memory limit, as the benchmark runs the broker', async (t) => {
  const nodeOptions = (objects: K8sObject[]): string | undefined => ((find(objects, 'Deployment') as Json).spec.template.spec.containers[0].env as Json[] | undefined)?.find((e) => e.name === 'NODE_OPTIONS')?.value
  t.equal(nodeOptions(await render({ name: 'minimal', file: MINIMAL })), chartNodeFlags().join(' '), 'the defaults render what bench/lib/chart.ts runs the broker with')
  t.equal(nodeOptions(await helmTemplate([MINIMAL], ['resources.limits.memory=1Gi'])), '--max-old-space-size=512 --max-semi-space-size=16', 'half of a 1Gi limit')
  t.equal(nodeOptions(await helmTemplate([MINIMAL], ['resources.limits=null'])), undefined, 'no limit, no heap flags: Node decides')
  await t.rejects(helmTemplate([MINIMAL], ['resources.limits.memory=300M']), /write it in Mi or Gi/, 'a limit in another unit stops the render')
})

t.test('values.yaml: every value documented with a `# --` comment', async (t) => {
  // A key is documented by its own `# --` comment, or by an ancestor's (a map-valued default such
  // as `resources` is one value); a parent map without one needs every child documented.
  const lines = readText('helm/chat-token-broker/values.yaml').split('\n')
  const stack: Array<{ indent: number, documented: boolean }> = []
  let listIndent = -1
  for (const [index, line] of lines.entries()) {
    const listItem = /^(\s*)- /.exec(line)
    if (listItem !== null) { listIndent = (listItem[1] as string).length; continue }
    const match = /^(\s*)([A-Za-z_][\w.-]*):/.exec(line)
    if (match === null) continue
    const indent = (match[1] as string).length
    if (listIndent >= 0 && indent > listIndent) continue // inside a list item: part of that value
    listIndent = -1
    while (stack.length > 0 && (stack.at(-1) as { indent: number }).indent >= indent) stack.pop()
    let previous = index - 1
    while (previous >= 0 && /^\s*#(?! --)/.test(lines[previous] as string)) previous--
    const own = /^\s*# -- \S/.test(lines[previous] ?? '')
    const inherited = stack.some((entry) => entry.documented)
    const nextIndent = /^(\s*)/.exec(lines[index + 1] ?? '')?.[1]?.length ?? 0
    const isParent = /:\s*$/.test(line) && nextIndent > indent
    if (!isParent || inherited) t.ok(own || inherited, `line ${index + 1}: ${match[2]} documented`)
    stack.push({ indent, documented: own || inherited })
  }
})

function schemaPaths (node: Json, prefix = ''): string[] {
  if (node.type !== 'object' || node.properties === undefined) return []
  return Object.entries(node.properties as Record<string, Json>).flatMap(([key, child]) => [`${prefix}${key}`, ...schemaPaths(child, `${prefix}${key}.`)])
}

function valuePaths (node: unknown, schemaNode: Json | undefined, prefix = ''): string[] {
  if (node === null || typeof node !== 'object' || Array.isArray(node)) return []
  // Free-form maps (annotations, resources, behavior...) have no per-key schema.
  if (schemaNode !== undefined && schemaNode.properties === undefined) return []
  return Object.entries(node as Json).flatMap(([key, child]) => [`${prefix}${key}`, ...valuePaths(child, schemaNode?.properties?.[key], `${prefix}${key}.`)])
}

t.test('values.schema.json: in sync with values.yaml, and it rejects bad values', async (t) => {
  const inSchema = new Set(schemaPaths(schema))
  const inValues = new Set(valuePaths(values, schema))
  for (const path of inValues) t.ok(inSchema.has(path), `values.yaml ${path} is in the schema`)
  for (const path of inSchema) t.ok(inValues.has(path), `schema ${path} is in values.yaml`)
  t.equal(schema.additionalProperties, false, 'unknown top-level keys are rejected')

  const ajv = new Ajv({ allErrors: true, strict: false })
  const validate = ajv.compile(schema)
  t.ok(validate(values), `values.yaml is valid ${JSON.stringify(validate.errors)}`)
  for (const scenario of scenarios.filter((s) => s.file !== undefined)) {
    const merged = { ...structuredClone(values), ...scenarioValues(scenario.file) }
    t.ok(validate(merged), `ci/${scenario.name}: valid ${JSON.stringify(validate.errors)}`)
  }
  const bad: Array<[string, (v: Json) => void]> = [
    ['replicaCount "two"', (v) => { v.replicaCount = 'two' }],
    ['an unknown top-level key', (v) => { v.replicas = 3 }],
    ['image.pullPolicy "Sometimes"', (v) => { v.image.pullPolicy = 'Sometimes' }],
    ['a misspelt config variable', (v) => { v.config.LOG_LEVLE = 'debug' }],
    ['config.LOG_LEVEL "loud"', (v) => { v.config.LOG_LEVEL = 'loud' }],
    ['redis.url http://', (v) => { v.redis.url = 'http://redis:6379' }],
    ['a sentinel without a port', (v) => { v.redis.sentinel.nodes = ['sentinel-0'] }],
    ['service.port 0', (v) => { v.service.port = 0 }],
    ['config.JWT_JWKS_URL over http', (v) => { v.config.JWT_JWKS_URL = 'http://idp/jwks' }]
  ]
  for (const [what, mutate] of bad) {
    const copy = structuredClone(values)
    mutate(copy)
    t.notOk(validate(copy), `rejects ${what}`)
  }
  // helm itself enforces the schema.
  await t.rejects(helmTemplate([MINIMAL], ['replicaCount=two']), { message: /replicaCount/ }, 'helm template rejects replicaCount=two')
  await t.rejects(helmTemplate([MINIMAL], ['imagePullPolicy=Always']), { message: /additional properties|imagePullPolicy/i }, 'helm template rejects an unknown key')
  await t.rejects(helmTemplate([MINIMAL], ['image.pullPolicy=Sometimes']), { message: /pullPolicy/ }, 'helm template rejects a bad pullPolicy')
})

t.test('helm test pod: hardened, calls /readyz through the Service, fails on 503', async (t) => {
  const objects = await render(scenarios[0] as typeof scenarios[0])
  const testPod = objects.find((o) => o.metadata.annotations?.['helm.sh/hook'] === 'test') as Json | undefined
  t.ok(testPod, 'a helm.sh/hook: test pod')
  if (testPod === undefined) return
  t.equal(testPod.kind, 'Pod')
  t.equal(testPod.spec.restartPolicy, 'Never')
  checkPodSpec(t, testPod.spec, 'test pod', { probeKind: 'httpGet', skipProbes: ['readyz'] })
  const deployment = find(objects, 'Deployment') as Json
  for (const [key, value] of Object.entries(deployment.spec.selector.matchLabels as Record<string, string>)) {
    if (testPod.metadata.labels[key] !== value) { t.pass('the test pod is not selected by the Service, PDB or NetworkPolicy'); break }
  }
  const command = testPod.spec.containers[0].command as string[]
  const url = command.at(-1) as string
  t.equal(url, 'http://ctb-chat-token-broker.chat.svc:80/readyz')

  // Run the pod's own command against a local stand-in for the Service.
  for (const status of [200, 503]) {
    const server = createServer((request, response) => {
      response.writeHead(request.url === '/readyz' ? status : 404, { 'content-type': 'application/json' }).end('{"status":"x"}')
    })
    const port = await freePort()
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve))
    const local = [...command.slice(0, -1), `http://127.0.0.1:${port}/readyz`]
    const outcome = await run(...bare(local), { env: cleanEnv() }).then(() => 0, (err: { code?: number }) => err.code ?? -1)
    server.close()
    t.equal(outcome, status === 200 ? 0 : 1, `exit ${status === 200 ? 0 : 1} when /readyz answers ${status}`)
  }
})

t.test('several issuers: the list lands in the Secret, is mounted read-only, and JWT_ISSUERS_FILE points at it', async (t) => {
  const objects = await render({ name: 'issuers-file', file: join(CI_DIR, 'issuers-file-values.yaml') })
  const configMap = find(objects, 'ConfigMap') as Json
  const secret = find(objects, 'Secret') as Json
  const pod = (find(objects, 'Deployment') as Json).spec.template.spec
  t.equal(configMap.data.JWT_ISSUERS_FILE, '/etc/chat-token-broker/issuers/issuers.yaml')
  const stored = parse(Buffer.from(secret.data['jwt-issuers.yaml'], 'base64').toString()) as Json
  t.equal(stored.issuers.length, 3, 'the three issuers, in the Secret (they may hold secrets)')
  t.notOk(JSON.stringify(configMap).includes('ci-app-server-jwt-secret'), 'never in the ConfigMap')
  t.same(pod.volumes.find((v: Json) => v.name === 'jwt-issuers').secret.items, [{ key: 'jwt-issuers.yaml', path: 'issuers.yaml' }])
  t.match(pod.containers[0].volumeMounts.find((m: Json) => m.name === 'jwt-issuers'), { mountPath: '/etc/chat-token-broker/issuers', readOnly: true })

  const existing = await helmTemplate([], ['config.NEXCONN_APP_KEY=k', 'secret.existingSecret=mine', 'jwtIssuers.existingSecretKey=issuers.yaml'])
  const volume = (find(existing, 'Deployment') as Json).spec.template.spec.volumes.find((v: Json) => v.name === 'jwt-issuers')
  t.same(volume.secret, { secretName: 'mine', items: [{ key: 'issuers.yaml', path: 'issuers.yaml' }] }, 'or from a key of an existing Secret')
  t.equal((find(existing, 'ConfigMap') as Json).data.JWT_ISSUERS_FILE, '/etc/chat-token-broker/issuers/issuers.yaml')
})
