/**
 * docker-compose.yml: valid against the Compose specification schema (the copy the dclint
 * package ships, a devDependency), and wired as documented: Redis with a healthcheck, the real
 * broker fed by .env only, and a `local` profile whose broker talks to the emulator with a
 * configuration the broker itself accepts.
 */
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { readFileSync } from 'node:fs'
import t from 'tap'
import { Ajv } from 'ajv'
import { loadConfig, VARIABLES } from '../../src/config.ts'
import { readText, readYaml } from './helpers.ts'
import { MIN_COMPOSE_VERSION } from '../../scripts/container/compose.ts'

interface Service {
  image?: string
  build?: unknown
  command?: string[] | string
  profiles?: string[]
  environment?: Record<string, string | number | boolean | null>
  env_file?: Array<string | { path: string, required?: boolean }>
  depends_on?: Record<string, { condition: string }>
  healthcheck?: { test?: string[] | string, disable?: boolean }
  ports?: string[]
  read_only?: boolean
  tmpfs?: string[]
  cap_drop?: string[]
  security_opt?: string[]
}

const compose = readYaml('docker-compose.yml') as { services: Record<string, Service> }
const services = compose.services
const variableNames = new Set(VARIABLES.map((v) => v.name))

function environment (service: Service | undefined): Record<string, string> {
  return Object.fromEntries(Object.entries(service?.environment ?? {}).map(([k, v]) => [k, String(v)]))
}

t.test('valid against the Compose specification schema', async (t) => {
  const require = createRequire(import.meta.url)
  const schemaPath = join(dirname(require.resolve('dclint/package.json')), 'schemas', 'compose.schema.json')
  const schema = JSON.parse(readFileSync(schemaPath, 'utf8')) as Record<string, unknown>
  // Draft-07, named by its https id; Ajv's default meta-schema is draft-07 under the http id.
  t.match(schema.$schema, /draft-07/)
  delete schema.$schema
  const ajv = new Ajv({ allErrors: true, strict: false })
  // The schema names formats the Compose implementation checks in code; check the shapes here.
  ajv.addFormat('duration', /^(\d+(\.\d+)?(ns|us|ms|s|m|h))+$/)
  ajv.addFormat('ports', /^.+$/)
  ajv.addFormat('expose', /^\d+(-\d+)?(\/(tcp|udp))?$/)
  const validate = ajv.compile(schema)
  const valid = validate(compose)
  t.ok(valid, 'schema-valid')
  if (valid !== true) t.comment(JSON.stringify(validate.errors, null, 2))

  const broken = structuredClone(compose) as { services: Record<string, Record<string, unknown>> }
  ;(broken.services.redis as Record<string, unknown>).healthcheck = { test: ['CMD', 'redis-cli', 'ping'], interval: 'five seconds' }
  ;(broken.services.redis as Record<string, unknown>).restart_policy = 'always'
  t.notOk(validate(broken), 'the same validator rejects a bad duration and an unknown key')
})

t.test('states the Compose version it needs, the one npm run test:container checks', async (t) => {
  t.match(readText('docker-compose.yml'), new RegExp(`Docker Compose v${MIN_COMPOSE_VERSION.replaceAll('.', '\\.')} or later`), `docker-compose.yml says v${MIN_COMPOSE_VERSION}`)
  t.match(readText('README.md'), new RegExp(`Compose v?${MIN_COMPOSE_VERSION.replaceAll('.', '\\.')}`), 'so does the README')
  // env_file entries with `required` are what needs 2.24 (Compose's own changelog).
  t.ok(Object.values(services).some((service) => service.env_file?.some((f) => typeof f === 'object' && 'required' in f)), 'the feature that needs it is used')
})

t.test('redis: pinned image, healthcheck, no persistence, no capabilities', async (t) => {
  const redis = services.redis as Service
  t.ok(redis)
  t.match(redis.image, /^redis:\d+\.\d+/, 'a pinned Redis release line')
  t.same(redis.profiles ?? [], [], 'in every profile')
  t.ok(Array.isArray(redis.healthcheck?.test) && redis.healthcheck.test.includes('ping'), 'healthcheck runs redis-cli ping')
  t.notOk(redis.healthcheck?.disable)
  const command = Array.isArray(redis.command) ? redis.command.join(' ') : redis.command ?? ''
  t.match(command, /--save ""|--save\s+(\s|$)/, 'no RDB snapshots')
  t.match(command, /--appendonly no/, 'no AOF')
  t.same(redis.cap_drop, ['ALL'])
  t.equal(redis.read_only, true)
  t.notOk(redis.ports, 'Redis is not published on the host')
  t.same(redis.tmpfs, ['/data'], 'a tmpfs over the image\'s VOLUME /data: no anonymous volume left behind')
})

t.test('broker (real app): every setting from .env, no secret in the file, waits for a healthy Redis', async (t) => {
  const broker = services.broker as Service
  t.ok(broker)
  t.same(broker.profiles, ['app'], 'started by COMPOSE_PROFILES=app from .env.example')
  t.match(readText('.env.example'), /^COMPOSE_PROFILES=app$/m, '.env.example selects the app profile')
  const envFiles = (broker.env_file ?? []).map((f) => typeof f === 'string' ? f : f.path)
  t.same(envFiles, ['.env'])
  // Nothing set here: a REDIS_URL default would clash with REDIS_SENTINELS or REDIS_CLUSTER_NODES
  // from .env. .env.example names the compose Redis itself.
  t.same(broker.environment ?? {}, {}, 'no environment block: every setting from .env')
  t.equal(broker.depends_on?.redis?.condition, 'service_healthy')
  t.ok(broker.build, 'built from this repository')
})

t.test('local profile: the emulator from the same image, and a broker wired to it', async (t) => {
  const emulator = services.emulator as Service
  const local = services['broker-local'] as Service
  t.same(emulator.profiles, ['local'])
  t.same(local.profiles, ['local'])
  t.equal(emulator.image, local.image, 'the same image')
  t.same(emulator.command, ['node', 'dist/emulator/main.js'])
  const emulatorEnv = environment(emulator)
  t.equal(emulatorEnv.EMULATOR_HOST, '0.0.0.0', 'listens beyond loopback inside its container')
  t.ok(Array.isArray(emulator.healthcheck?.test) && emulator.healthcheck.test[0] === 'CMD', 'exec-form healthcheck (no shell needed)')

  const env = environment(local)
  const urls = (env.NEXCONN_API_URLS ?? '').split(',')
  t.same(urls, [`http://emulator:${emulatorEnv.EMULATOR_PORT}`, `http://emulator:${emulatorEnv.EMULATOR_BACKUP_PORT}`], 'NEXCONN_API_URLS: the emulator, primary then backup')
  t.equal(env.NEXCONN_ALLOW_HTTP, 'true', 'plain HTTP allowed to the emulator')
  t.equal(env.NEXCONN_APP_KEY, emulatorEnv.EMULATOR_APP_KEY, 'same App Key')
  t.equal(env.NEXCONN_APP_SECRET, emulatorEnv.EMULATOR_APP_SECRET, 'same App Secret')
  t.equal(env.REDIS_URL, 'redis://redis:6379')
  t.equal(local.depends_on?.emulator?.condition, 'service_healthy')
  t.equal(local.depends_on?.redis?.condition, 'service_healthy')
  for (const name of Object.keys(env)) t.ok(variableNames.has(name), `${name} is a broker variable`)
  t.doesNotThrow(() => loadConfig(env, { runMode: 'production' }), 'the broker accepts this configuration as a production one')
  for (const service of [local, emulator, services.broker as Service]) {
    for (const port of service.ports ?? []) t.match(port, /^\$\{[A-Z_]+_PUBLISH:-127\.0\.0\.1:\d+\}:\d+$/, `${port}: published on loopback unless *_PUBLISH says otherwise`)
  }
})

t.test('every container hardened: read-only root, no capabilities, no-new-privileges', async (t) => {
  for (const [name, service] of Object.entries(services)) {
    t.equal(service.read_only, true, `${name}: read_only`)
    t.same(service.cap_drop, ['ALL'], `${name}: cap_drop ALL`)
    t.ok(service.security_opt?.some((o) => /^no-new-privileges(:true)?$/.test(o)), `${name}: no-new-privileges`)
  }
})
