/**
 * docker-compose.yml brought up as the README says, in a copy of the files a user has (so a .env
 * written here never touches the working tree): `docker compose --profile local up --build`
 * serves a token with no Nexconn account, and `down` leaves no container, network or volume; the
 * `app` profile with a .env made from .env.example becomes ready against the compose Redis; and
 * compose's own interpolation of .env lets Sentinel and Cluster settings through untouched.
 * Ports are published on free 127.0.0.1 ports (BROKER_PUBLISH, EMULATOR_PUBLISH).
 *
 * Run by `npm run test:container` (scripts/container/test.ts), which prepares the engine.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { parse } from 'yaml'
import { loadConfig } from '../../src/config.ts'
import { compareVersions, MIN_COMPOSE_VERSION } from '../../scripts/container/compose.ts'
import { dockerignore } from '../deploy/helpers.ts'
import { docker, ENGINE_READY, freePort, report, ROOT, signJwt, waitFor } from './helpers.ts'

t.setTimeout(900_000)
if (!ENGINE_READY) {
  t.plan(0, 'run by npm run test:container, which prepares the container engine')
  process.exit(0)
}

const PROJECT = `ctb-compose-${process.pid}`

/** The compose file, the Dockerfile and the build context a user's checkout has, in a new folder. */
function checkout (): string {
  const dir = mkdtempSync(join(tmpdir(), 'ctb-compose-'))
  const ignoreText = readFileSync(join(ROOT, '.dockerignore'), 'utf8')
  const ignored = dockerignore(ignoreText)
  const allowed = ignoreText.split('\n').filter((line) => line.startsWith('!')).map((line) => line.slice(1).trim())
  for (const path of ['docker-compose.yml', 'Dockerfile', '.dockerignore', '.env.example', ...allowed]) {
    cpSync(join(ROOT, path), join(dir, path), { recursive: true, filter: (from) => !ignored(from.slice(ROOT.length + 1)) || from === join(ROOT, path) })
  }
  return dir
}

const dir = checkout()
t.teardown(async () => {
  for (const profile of ['local', 'app']) await compose(['--profile', profile, 'down', '--volumes', '--remove-orphans'], {}).catch(() => {})
  rmSync(dir, { recursive: true, force: true })
})

async function compose (args: string[], env: Record<string, string>, project = PROJECT): Promise<string> {
  return await docker(['compose', '-p', project, ...args], { cwd: dir, env, timeoutMs: 600_000 })
}

/** Containers, networks and volumes of a project, as `docker` lists them. */
async function leftovers (project: string): Promise<string[]> {
  const filter = `label=com.docker.compose.project=${project}`
  return [
    ...(await docker(['ps', '-a', '-q', '--filter', filter])).split('\n').filter(Boolean).map((id) => `container ${id}`),
    ...(await docker(['network', 'ls', '-q', '--filter', filter])).split('\n').filter(Boolean).map((id) => `network ${id}`),
    ...(await docker(['volume', 'ls', '-q', '--filter', filter])).split('\n').filter(Boolean).map((id) => `volume ${id}`)
  ]
}

async function volumes (): Promise<Set<string>> {
  return new Set((await docker(['volume', 'ls', '-q'])).split('\n').filter(Boolean))
}

t.test(`docker compose ${MIN_COMPOSE_VERSION} or later, as docker-compose.yml states`, async (t) => {
  const version = (await docker(['compose', 'version', '--short'])).trim().replace(/^v/, '')
  t.ok(compareVersions(version, MIN_COMPOSE_VERSION) >= 0, `docker compose ${version}`)
  t.match(readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8'), `Docker Compose v${MIN_COMPOSE_VERSION} or later`)
})

t.test('--profile local up --build: a token from the emulator-backed stack; down leaves nothing behind', async (t) => {
  const brokerPort = await freePort()
  const emulatorPort = await freePort()
  const env = { BROKER_PUBLISH: `127.0.0.1:${brokerPort}`, EMULATOR_PUBLISH: `127.0.0.1:${emulatorPort}` }
  const volumesBefore = await volumes()
  const began = Date.now()
  await compose(['--profile', 'local', 'up', '--build', '--detach', '--wait', '--wait-timeout', '240'], env)
  const upSeconds = (Date.now() - began) / 1000
  t.pass(`up --build --wait: healthy in ${upSeconds.toFixed(0)} s`)
  report('docker compose --profile local up --build --wait', `${upSeconds.toFixed(0)} s`)

  const composeFile = parse(readFileSync(join(dir, 'docker-compose.yml'), 'utf8'), { merge: true }) as { services: Record<string, { environment: Record<string, string> }> }
  const secret = composeFile.services['broker-local']?.environment.JWT_SECRET ?? ''
  const base = `http://127.0.0.1:${brokerPort}`
  await waitFor(`${base}/readyz`, (status) => status === 200, 30_000)
  const response = await fetch(`${base}/v1/token`, { method: 'POST', headers: { authorization: `Bearer ${signJwt(secret, 'bob')}` } })
  const body = await response.json() as Record<string, unknown>
  t.equal(response.status, 200, `POST /v1/token: ${JSON.stringify(body)}`)
  t.equal(body.userId, 'bob')
  t.equal(body.appKey, 'local-emulator-app')
  const stats = await (await fetch(`http://127.0.0.1:${emulatorPort}/_emulator/stats`)).json() as Record<string, unknown>
  t.match(JSON.stringify(stats), /"bob":1/, 'the emulator issued one token for bob')
  const readyz = await (await fetch(`${base}/readyz`)).json() as { components: Record<string, string> }
  t.equal(readyz.components.redis, 'ok', 'the broker uses the compose Redis')
  const docs = await fetch(`${base}/docs`)
  t.equal(docs.status, 200, 'the local stack serves the docs UI')
  await docs.arrayBuffer()

  // `down` as a user types it (no --volumes): nothing of the project may remain.
  await compose(['--profile', 'local', 'down'], env)
  t.same(await leftovers(PROJECT), [], 'no container, network or labelled volume left')
  const newVolumes = [...await volumes()].filter((v) => !volumesBefore.has(v))
  t.same(newVolumes, [], 'no anonymous volume left either')
})

/** .env.example with its REQUIRED lines filled in and one JWT mode chosen, as the README says. */
function dotenv (extra: Record<string, string>, drop: string[] = []): string {
  const filled: Record<string, string> = {
    NEXCONN_APP_KEY: 'composeapp',
    NEXCONN_APP_SECRET: 'compose-app-secret',
    TOKEN_ENCRYPTION_KEY: Buffer.alloc(32, 5).toString('base64')
  }
  let text = readFileSync(join(ROOT, '.env.example'), 'utf8')
  for (const [name, value] of Object.entries(filled)) text = text.replace(new RegExp(`^${name}=$`, 'm'), `${name}=${value}`)
  text = text.replace(/^# JWT_SECRET=$/m, 'JWT_SECRET=compose-jwt-secret-that-is-long-enough-0123')
  for (const name of drop) text = text.replace(new RegExp(`^${name}=`, 'm'), `# ${name}=`)
  return text + Object.entries(extra).map(([k, v]) => `${k}=${v}\n`).join('')
}

t.test('app profile: .env from .env.example, ready against the compose Redis', async (t) => {
  const port = await freePort()
  // Nexconn at a closed loopback port of the container itself: nothing leaves the machine.
  writeFileSync(join(dir, '.env'), dotenv({ BROKER_PUBLISH: `127.0.0.1:${port}`, NEXCONN_API_URLS: 'http://127.0.0.1:9' }))
  const project = `${PROJECT}-app`
  try {
    await compose(['up', '--build', '--detach', '--wait', '--wait-timeout', '240'], {}, project)
    const ready = await waitFor(`http://127.0.0.1:${port}/readyz`, (status) => status === 200, 60_000)
    const body = JSON.parse(ready.body) as { status: string, components: Record<string, string> }
    t.equal(body.status, 'ready')
    t.equal(body.components.redis, 'ok', 'Redis: the compose `redis` service, named by REDIS_URL in .env')
    const services = (await compose(['ps', '--format', '{{.Service}}'], {}, project)).split('\n').filter(Boolean).sort()
    t.same(services, ['broker', 'redis'], 'COMPOSE_PROFILES=app from .env starts the broker and Redis only')
  } finally {
    await compose(['down'], {}, project)
  }
  t.same(await leftovers(project), [], 'down leaves nothing behind')
})

t.test('Redis modes from .env: Sentinel and Cluster settings reach the broker, and it accepts them', async (t) => {
  const modes: Record<string, Record<string, string>> = {
    sentinel: { REDIS_SENTINELS: 'sentinel-0:26379,sentinel-1:26379', REDIS_SENTINEL_NAME: 'mymaster', REDIS_PASSWORD: 'pw' },
    cluster: { REDIS_CLUSTER_NODES: 'redis-0:6379,redis-1:6379,redis-2:6379' }
  }
  for (const [mode, settings] of Object.entries(modes)) {
    writeFileSync(join(dir, '.env'), dotenv(settings, ['REDIS_URL']))
    const config = JSON.parse(await compose(['config', '--format', 'json'], {}, `${PROJECT}-config`)) as { services: Record<string, { environment: Record<string, string> }> }
    const env = config.services.broker?.environment ?? {}
    t.notOk('REDIS_URL' in env, `${mode}: no REDIS_URL forced by the compose file`)
    t.doesNotThrow(() => {
      const loaded = loadConfig(env, { runMode: 'production' })
      t.equal(loaded.redis?.mode, mode, `${mode}: the broker configures Redis ${mode}`)
    }, `${mode}: a configuration the broker accepts`)
  }
  rmSync(join(dir, '.env'), { force: true })
})
