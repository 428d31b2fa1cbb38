/**
 * Offline validation of Kubernetes objects, two ways:
 *  - the JSON-schema validators of the kubernetes-models packages (types, required fields,
 *    formats; core API plus the Gateway API and Prometheus Operator CRDs), which ignore fields
 *    they do not know;
 *  - the same packages' TypeScript declarations, through `tsc`, whose excess-property check
 *    catches the unknown or misspelt fields (`readinesProbe`) that the validators let through.
 * Plus the hardening rules this project holds every pod to.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Test } from 'tap'
import { bare, cleanEnv, ROOT, run, type K8sObject } from './helpers.ts'

interface Kind { module: string, type: string }

/** apiVersion/kind → the kubernetes-models module and interface describing it. */
const KINDS: Record<string, Kind> = {
  'v1/ConfigMap': { module: 'kubernetes-models/v1/ConfigMap', type: 'IConfigMap' },
  'v1/Secret': { module: 'kubernetes-models/v1/Secret', type: 'ISecret' },
  'v1/Service': { module: 'kubernetes-models/v1/Service', type: 'IService' },
  'v1/ServiceAccount': { module: 'kubernetes-models/v1/ServiceAccount', type: 'IServiceAccount' },
  'v1/Pod': { module: 'kubernetes-models/v1/Pod', type: 'IPod' },
  'apps/v1/Deployment': { module: 'kubernetes-models/apps/v1/Deployment', type: 'IDeployment' },
  'autoscaling/v2/HorizontalPodAutoscaler': { module: 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler', type: 'IHorizontalPodAutoscaler' },
  'policy/v1/PodDisruptionBudget': { module: 'kubernetes-models/policy/v1/PodDisruptionBudget', type: 'IPodDisruptionBudget' },
  'networking.k8s.io/v1/NetworkPolicy': { module: 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy', type: 'INetworkPolicy' },
  'networking.k8s.io/v1/Ingress': { module: 'kubernetes-models/networking.k8s.io/v1/Ingress', type: 'IIngress' },
  'monitoring.coreos.com/v1/ServiceMonitor': { module: '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor', type: 'IServiceMonitor' },
  'gateway.networking.k8s.io/v1/HTTPRoute': { module: '@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1/HTTPRoute', type: 'IHTTPRoute' }
}

function kindOf (object: K8sObject): Kind {
  const kind = KINDS[`${object.apiVersion}/${object.kind}`]
  if (kind === undefined) throw new Error(`no schema for ${object.apiVersion} ${object.kind}: add it to test/deploy/k8s.ts`)
  return kind
}

/** Schema errors of one object ([] when valid), from the kubernetes-models validator. */
export async function schemaErrors (object: K8sObject): Promise<string[]> {
  const kind = kindOf(object)
  const module = await import(kind.module) as Record<string, new (data: unknown) => { validate: () => void }>
  const Model = module[kind.type.slice(1)]
  if (Model === undefined) throw new Error(`${kind.module} has no ${kind.type.slice(1)}`)
  try {
    new Model(object).validate()
    return []
  } catch (err) {
    return [(err as Error).message]
  }
}

export interface Labelled { label: string, object: K8sObject }

/**
 * Type-checks objects against the kubernetes-models declarations with tsc (excess properties are
 * errors). Returns the errors per label. The file lives under node_modules/.cache so that the
 * packages resolve from there.
 */
export async function typeErrors (objects: Labelled[]): Promise<Map<string, string[]>> {
  const base = join(ROOT, 'node_modules', '.cache', 'chat-token-broker')
  mkdirSync(base, { recursive: true })
  const dir = mkdtempSync(join(base, 'typecheck-'))
  try {
    const imports = new Map<string, Kind>()
    const body: string[] = []
    const lineLabels: Array<{ from: number, label: string }> = []
    let line = 0
    for (const [index, { label, object }] of objects.entries()) {
      const kind = kindOf(object)
      const alias = `T_${kind.type}`
      imports.set(alias, kind)
      const text = `export const o${index}: ${alias} = ${JSON.stringify(object, null, 2)}\n`
      lineLabels.push({ from: line, label })
      body.push(text)
      line += text.split('\n').length - 1
    }
    const header = [...imports].map(([alias, kind]) => `import type { ${kind.type} as ${alias} } from '${kind.module}'\n`)
    const offset = header.length
    writeFileSync(join(dir, 'objects.ts'), header.join('') + body.join(''))
    writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({
      compilerOptions: { target: 'es2022', module: 'nodenext', moduleResolution: 'nodenext', strict: true, noEmit: true, skipLibCheck: true, types: [] },
      files: ['objects.ts']
    }))
    const errors = new Map<string, string[]>()
    try {
      await run(...bare([join(ROOT, 'node_modules', '.bin', 'tsc'), '-p', join(dir, 'tsconfig.json'), '--pretty', 'false']), { env: cleanEnv(), maxBuffer: 32 * 1024 * 1024 })
    } catch (err) {
      const output = String((err as { stdout?: string }).stdout ?? '') + String((err as { stderr?: string }).stderr ?? '')
      const found = [...output.matchAll(/objects\.ts\((\d+),\d+\): (error TS\d+: .*)/g)]
      if (found.length === 0) throw new Error(`tsc failed without a located error:\n${output}`)
      for (const match of found) {
        const at = Number(match[1]) - 1 - offset
        const label = lineLabels.findLast((entry) => entry.from <= at)?.label ?? 'imports'
        errors.set(label, [...errors.get(label) ?? [], match[2] as string])
      }
    }
    return errors
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

type Json = Record<string, unknown>

function get (value: unknown, path: string): unknown {
  let current = value
  for (const part of path.split('.')) {
    if (current === null || typeof current !== 'object') return undefined
    current = (current as Json)[part]
  }
  return current
}

export interface PodRules {
  /** `httpGet` probes (a Deployment) or `exec` probes (a sidecar bound to loopback). */
  probeKind: 'httpGet' | 'exec'
  /** Containers exempt from the probe and preStop rules (the app beside a sidecar). */
  skipProbes?: string[]
}

/** Hardening and health rules for a pod spec; each rule is its own assertion. */
export function checkPodSpec (t: Test, spec: Json, label: string, rules: PodRules): void {
  t.equal(get(spec, 'securityContext.runAsNonRoot'), true, `${label}: pod runAsNonRoot`)
  t.equal(get(spec, 'securityContext.seccompProfile.type'), 'RuntimeDefault', `${label}: pod seccomp RuntimeDefault`)
  t.equal(spec.automountServiceAccountToken, false, `${label}: no ServiceAccount token mounted`)
  const containers = [...(spec.initContainers as Json[] | undefined ?? []), ...(spec.containers as Json[])]
  for (const container of containers) {
    const name = `${label}/${String(container.name)}`
    const sc = container.securityContext as Json | undefined
    t.equal(get(sc, 'readOnlyRootFilesystem'), true, `${name}: readOnlyRootFilesystem`)
    t.equal(get(sc, 'allowPrivilegeEscalation'), false, `${name}: allowPrivilegeEscalation false`)
    t.ok((get(sc, 'capabilities.drop') as string[] | undefined)?.includes('ALL'), `${name}: capabilities drop ALL`)
    t.not(get(sc, 'privileged'), true, `${name}: not privileged`)
    t.notOk(get(sc, 'capabilities.add'), `${name}: no capability added`)
    t.ok(get(sc, 'runAsNonRoot') === true || get(spec, 'securityContext.runAsNonRoot') === true, `${name}: runAsNonRoot`)
    t.ok(get(container, 'resources.requests.memory') !== undefined && get(container, 'resources.limits.memory') !== undefined, `${name}: memory request and limit`)
    t.ok(get(container, 'resources.requests.cpu') !== undefined, `${name}: cpu request`)
    if (rules.skipProbes?.includes(String(container.name)) === true) continue
    const probes = { startupProbe: '/livez', livenessProbe: '/livez', readinessProbe: '/readyz' }
    for (const [probe, path] of Object.entries(probes)) {
      const value = container[probe] as Json | undefined
      t.ok(value, `${name}: ${probe}`)
      if (rules.probeKind === 'httpGet') t.equal(get(value, 'httpGet.path'), path, `${name}: ${probe} on ${path}`)
      else t.match((get(value, 'exec.command') as string[] | undefined)?.join(' ') ?? '', path, `${name}: ${probe} on ${path}`)
    }
  }
}
