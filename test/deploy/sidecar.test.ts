/**
 * docs/sidecar.md: the Pod manifest in its yaml block is validated like the chart's objects
 * (Kubernetes schemas and type declarations, hardening and probe rules), and the broker's
 * settings in it load with the broker's own configuration loader, listening on loopback only.
 */
import t from 'tap'
import { loadConfig } from '../../src/config.ts'
import { parseManifests, readText, type K8sObject } from './helpers.ts'
import { checkPodSpec, schemaErrors, typeErrors } from './k8s.ts'

type Json = Record<string, any>

const markdown = readText('docs/sidecar.md')
const blocks = [...markdown.matchAll(/^```yaml\n([\s\S]*?)^```$/gm)].map((m) => m[1] as string)
const objects = blocks.flatMap((block) => parseManifests(block))
const pod = objects.find((o) => o.kind === 'Pod') as (K8sObject & Json) | undefined

t.test('docs/sidecar.md holds exactly one complete Pod manifest', async (t) => {
  t.equal(blocks.length, 1, 'one yaml block')
  t.equal(objects.length, 1)
  t.ok(pod, 'a Pod')
})

t.test('the Pod is valid against the Kubernetes schemas and declarations', async (t) => {
  if (pod === undefined) return t.fail('no Pod')
  t.same(await schemaErrors(pod), [], 'schema-valid')
  const errors = await typeErrors([{ label: 'sidecar', object: pod }])
  t.same(errors.get('sidecar') ?? [], [], 'no unknown field')
})

t.test('hardened, with exec probes on /livez and /readyz for the loopback-only broker', async (t) => {
  if (pod === undefined) return t.fail('no Pod')
  checkPodSpec(t, pod.spec, 'sidecar', { probeKind: 'exec', skipProbes: ['app'] })
  const broker = (pod.spec.initContainers as Json[]).find((c) => c.name === 'chat-token-broker') as Json
  t.ok(broker, 'the broker is an init container')
  t.equal(broker.restartPolicy, 'Always', 'a native sidecar: started before and stopped after the app')
  t.notOk(broker.ports, 'no container port: nothing outside the pod reaches it')
  for (const probe of ['startupProbe', 'livenessProbe', 'readinessProbe']) {
    t.equal(broker[probe].exec.command[0], 'node', `${probe} needs no shell`)
    t.match(broker[probe].exec.command.join(' '), /http:\/\/127\.0\.0\.1:8080\//, `${probe} calls loopback`)
  }
  const tmp = (broker.volumeMounts as Json[]).find((m) => m.mountPath === '/tmp')
  t.ok((pod.spec.volumes as Json[]).some((v) => v.name === tmp?.name && v.emptyDir !== undefined), 'writable /tmp from an emptyDir')
  const app = (pod.spec.containers as Json[]).find((c) => c.name === 'app') as Json
  t.match(app.env.find((e: Json) => e.name === 'CHAT_TOKEN_BROKER_URL')?.value, /^http:\/\/127\.0\.0\.1:8080$/, 'the app calls its sidecar on loopback')
  t.ok(pod.spec.terminationGracePeriodSeconds > 10 + 2, 'grace period above the broker\'s SHUTDOWN_GRACE_MS and backstop')
})

t.test('memory follows docs/benchmarks.md, with room for one exec probe; probes run sparingly', async (t) => {
  if (pod === undefined) return t.fail('no Pod')
  const broker = (pod.spec.initContainers as Json[]).find((c) => c.name === 'chat-token-broker') as Json
  const bench = readText('docs/benchmarks.md')
  const steady = Number(/resident memory after a forced GC, 100,000 users \| (\d+)(?:\.\d+)? MiB/.exec(bench)?.[1])
  const peak = Math.max(...[...bench.matchAll(/peak resident memory, [\d,]+ users \| (\d+)(?:\.\d+)? MiB/g)].map((m) => Number(m[1])))
  const mib = (quantity: string): number => Number(/^(\d+)Mi$/.exec(quantity)?.[1] ?? Number.NaN)
  /** A `node -e fetch(...)` probe peaks at ~60 MiB resident (measured with /usr/bin/time -v). */
  const probeMiB = 60
  t.ok(mib(broker.resources.requests.memory) >= steady, `request ${broker.resources.requests.memory} ≥ ${steady} MiB after 100,000 users`)
  t.ok(mib(broker.resources.limits.memory) >= peak * 1.15 + probeMiB, `limit ${broker.resources.limits.memory} ≥ ${peak} MiB peak + 15 % + one probe`)
  const nodeOptions = String((broker.env as Json[]).find((e) => e.name === 'NODE_OPTIONS')?.value)
  t.equal(nodeOptions, `--max-old-space-size=${mib(broker.resources.limits.memory) / 2} --max-semi-space-size=16`, 'the heap sized from the limit, as the chart does')
  t.ok(broker.livenessProbe.periodSeconds >= 30, 'liveness every 30 s or less often')
  t.ok(broker.readinessProbe.periodSeconds >= 10, 'readiness every 10 s or less often')
})

t.test('the broker settings in the manifest are a valid production configuration on 127.0.0.1', async (t) => {
  if (pod === undefined) return t.fail('no Pod')
  const broker = (pod.spec.initContainers as Json[]).find((c) => c.name === 'chat-token-broker') as Json
  const env = Object.fromEntries((broker.env as Json[]).map((e) => [e.name, e.value])) as Record<string, string>
  for (const e of broker.env as Json[]) t.ok(e.value !== undefined, `${e.name} has a literal value (secrets come from files)`)
  const mounts = broker.volumeMounts as Json[]
  const files: Record<string, string> = {
    'nexconn-app-secret': 'app-secret-from-the-secret',
    'jwt-secret': 'a-jwt-secret-from-the-secret-long-enough'
  }
  const readFile = (path: string): string => {
    const mount = mounts.find((m) => path.startsWith(`${m.mountPath as string}/`))
    t.ok(mount?.readOnly, `${path} is under a read-only mount`)
    const volume = (pod.spec.volumes as Json[]).find((v) => v.name === mount?.name)
    t.ok(volume?.secret?.secretName, `${path} comes from a Secret`)
    const key = path.slice((mount?.mountPath as string).length + 1)
    const value = files[key]
    if (value === undefined) throw new Error(`no key ${key}`)
    return value
  }
  const config = loadConfig(env, { runMode: 'production', readFile })
  t.equal(config.server.host, '127.0.0.1', 'listens on loopback only')
  t.equal(config.server.port, 8080)
  t.equal(config.nexconn.appSecret, files['nexconn-app-secret'], 'App Secret read from the mounted file')
  t.equal(config.jwt.providers[0]?.key.mode, 'secret')
})
