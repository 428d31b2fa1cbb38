/**
 * The image, built and run as the README's Docker section says: `docker build`, then
 * `docker run --read-only --tmpfs /tmp --cap-drop ALL --security-opt no-new-privileges` with the
 * settings from an env file and a secret mounted as a file, the port published on 127.0.0.1 only.
 * The Nexconn emulator runs from the same image on a private network. Checks what a user sees:
 * /livez, /readyz and a token through the published port, the process's identity and
 * capabilities, the HEALTHCHECK turning healthy, `docker stop` exiting 0 within the grace, and no
 * secret in the image, its history or the logs. Reports build time, image size and time to ready.
 *
 * Run by `npm run test:container` (scripts/container/test.ts), which prepares the engine.
 */
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { parse } from 'yaml'
import { docker, ENGINE_READY, freePort, health, logsOf, mib, report, ROOT, signJwt, waitFor } from './helpers.ts'
import { tarEntries } from './tar.ts'
import { screenshotDocs } from './browser.ts'

t.setTimeout(900_000)
if (!ENGINE_READY) {
  t.plan(0, 'run by npm run test:container, which prepares the container engine')
  process.exit(0)
}

const IMAGE = 'chat-token-broker:container-test'
const RUN_ID = `ctb-test-${process.pid}`
const NETWORK = RUN_ID
const APP_KEY = 'containertestapp'
const APP_SECRET = 'container-test-app-secret-7f3a'
const JWT_SECRET = 'container-test-jwt-secret-that-is-long-enough-91c2'
/** The broker's default SHUTDOWN_GRACE_MS is 10 s; README: `docker stop -t 15`. */
const STOP_GRACE_S = 15
const HARDENING = ['--read-only', '--tmpfs', '/tmp', '--cap-drop', 'ALL', '--security-opt', 'no-new-privileges:true']

const work = mkdtempSync(join(tmpdir(), 'ctb-container-'))
const started: string[] = []
t.teardown(async () => {
  for (const name of started) await docker(['rm', '-f', '-v', name]).catch(() => {})
  await docker(['network', 'rm', NETWORK]).catch(() => {})
  rmSync(work, { recursive: true, force: true })
})

let imageSize = 0

t.test('docker build', async (t) => {
  const began = Date.now()
  await docker(['build', '--no-cache', '--pull=false', '-t', IMAGE, '.'], { cwd: ROOT })
  const seconds = (Date.now() - began) / 1000
  t.pass(`built in ${seconds.toFixed(0)} s`)
  report('build time (docker build --no-cache, classic builder)', `${seconds.toFixed(0)} s`)
  imageSize = Number(await docker(['image', 'inspect', '--format', '{{.Size}}', IMAGE]))
  t.ok(imageSize > 0)
  report('image size', mib(imageSize))
  const baseName = /^FROM\s+(\S+)/m.exec(readFileSync(join(ROOT, 'Dockerfile'), 'utf8'))?.[1] ?? ''
  const baseSize = Number(await docker(['image', 'inspect', '--format', '{{.Size}}', baseName]))
  report(`of which the base ${baseName}`, mib(baseSize))
  report('of which the broker\'s own layers', mib(imageSize - baseSize))
  t.ok(imageSize - baseSize < 24 * 1024 * 1024, `the broker adds ${mib(imageSize - baseSize)} to the base (dist and pruned production dependencies)`)
})

t.test('image configuration: non-root numeric user, production, exec-form CMD, HEALTHCHECK', async (t) => {
  const config = JSON.parse(await docker(['image', 'inspect', '--format', '{{json .Config}}', IMAGE])) as {
    User: string, Env: string[], Cmd: string[], Healthcheck?: { Test: string[] }, ExposedPorts: Record<string, unknown>, Labels: Record<string, string>
  }
  t.equal(config.User, '1000:1000')
  t.ok(config.Env.includes('NODE_ENV=production'), 'NODE_ENV=production')
  t.same(config.Cmd, ['node', 'dist/server.js'])
  t.equal(config.Healthcheck?.Test[0], 'CMD', 'HEALTHCHECK in exec form')
  t.ok('8080/tcp' in config.ExposedPorts)
  t.equal(config.Labels['org.opencontainers.image.title'], 'chat-token-broker')
})

t.test('image contents: dist and production dependencies only; no secret in any layer or in the history', async (t) => {
  const listing = await docker(['run', '--rm', '--network', 'none', IMAGE, 'node', '-e', `
    const fs = require('node:fs'), path = require('node:path')
    const walk = (d) => fs.readdirSync(d, { withFileTypes: true }).flatMap((e) => e.isDirectory() ? walk(path.join(d, e.name)) : [path.join(d, e.name)])
    console.log(JSON.stringify({ app: fs.readdirSync('/app'), dist: walk('/app/dist'), modules: fs.readdirSync('/app/node_modules'), types: walk('/app/node_modules').filter((f) => /\\.d\\.ts$|\\.map$/.test(f)).length }))`])
  const { app, dist, modules, types } = JSON.parse(listing) as { app: string[], dist: string[], modules: string[], types: number }
  t.same(app.sort(), ['dist', 'node_modules', 'package.json'], '/app holds dist, node_modules and package.json only')
  t.ok(dist.includes('/app/dist/server.js') && dist.includes('/app/dist/emulator/main.js'), 'the broker and the emulator entry points')
  t.notOk(dist.some((f) => /\/dev\.js$/.test(f)), 'no dist/dev.js (local mode is not shipped: it needs dev dependencies)')
  t.notOk(dist.some((f) => f.endsWith('.map')), 'no source maps')
  for (const devOnly of ['typescript', 'tap', 'eslint', '@aws-cdk', '@typescript', '@types', 'pino-pretty']) t.notOk(modules.includes(devOnly), `no ${devOnly}`)
  t.equal(types, 0, 'no type declarations or source maps in node_modules')

  const history = await docker(['history', '--no-trunc', '--format', '{{.CreatedBy}}', IMAGE])
  for (const name of ['NEXCONN_APP_SECRET', 'JWT_SECRET', 'TOKEN_ENCRYPTION_KEY', 'ADMIN_API_KEY', 'REDIS_PASSWORD']) {
    t.notMatch(history, new RegExp(`${name}=`), `no ${name} set at build time`)
  }
  const saved = join(work, 'image.tar')
  await docker(['save', '-o', saved, IMAGE])
  const suspicious: string[] = []
  let files = 0
  for (const entry of tarEntries(readFileSync(saved))) {
    if (!entry.name.endsWith('/layer.tar')) continue
    for (const file of tarEntries(entry.data)) {
      files++
      if (/(^|\/)\.env(\.[\w-]+)?$|(^|\/)id_(rsa|ed25519)$|\.pem$|(^|\/)\.npmrc$|(^|\/)\.git\//.test(file.name) && !file.name.startsWith('etc/ssl/') && !file.name.startsWith('usr/')) suspicious.push(file.name)
    }
  }
  t.ok(files > 1000, `${files} files in the layers`)
  t.same(suspicious, [], 'no .env, key, .npmrc or .git file in any layer')
  rmSync(saved, { force: true })
})

interface Running { name: string, port: number, startedAt: number }

async function runBroker (name: string, env: Record<string, string>, extra: string[] = []): Promise<Running> {
  const port = await freePort()
  const envFile = join(work, `${name}.env`)
  writeFileSync(envFile, Object.entries(env).map(([k, v]) => `${k}=${v}`).join('\n') + '\n')
  const startedAt = Date.now()
  started.push(name)
  await docker(['run', '-d', '--name', name, '--network', NETWORK, '-p', `127.0.0.1:${port}:8080`, '--env-file', envFile, ...HARDENING, ...extra, IMAGE])
  return { name, port, startedAt }
}

const brokerEnv = {
  NEXCONN_APP_KEY: APP_KEY,
  NEXCONN_API_URLS: `http://${RUN_ID}-emulator:8090`,
  NEXCONN_ALLOW_HTTP: 'true',
  JWT_SECRET
}

t.test('docker run: hardened broker and emulator from the same image', async (t) => {
  await docker(['network', 'create', NETWORK])
  started.push(`${RUN_ID}-emulator`)
  await docker(['run', '-d', '--name', `${RUN_ID}-emulator`, '--network', NETWORK, ...HARDENING,
    '-e', 'EMULATOR_HOST=0.0.0.0', '-e', `EMULATOR_APP_KEY=${APP_KEY}`, '-e', `EMULATOR_APP_SECRET=${APP_SECRET}`,
    IMAGE, 'node', 'dist/emulator/main.js'])

  // The App Secret as a mounted file, as docs/deploy.md shows; the JWT secret from the env file.
  const secrets = join(work, 'secrets')
  mkdirSync(secrets)
  writeFileSync(join(secrets, 'nexconn_app_secret'), `${APP_SECRET}\n`)
  chmodSync(secrets, 0o755)
  chmodSync(join(secrets, 'nexconn_app_secret'), 0o444)
  // The chart's memory limit, so the figure below is measured under the limit users get.
  const limit = (parse(readFileSync(join(ROOT, 'helm', 'chat-token-broker', 'values.yaml'), 'utf8')) as { resources: { limits: { memory: string } } }).resources.limits.memory
  const broker = await runBroker(`${RUN_ID}-broker`, { ...brokerEnv, NEXCONN_APP_SECRET_FILE: '/run/secrets/nexconn_app_secret' },
    ['-v', `${secrets}:/run/secrets:ro`, '--memory', limit.replace(/Mi$/, 'm').replace(/Gi$/, 'g')])
  const healthy = (async () => {
    const deadline = Date.now() + 90_000
    for (;;) {
      const status = await health(broker.name)
      if (status === 'healthy' || Date.now() > deadline) return { status, at: Date.now() }
      await new Promise((resolve) => setTimeout(resolve, 1_000))
    }
  })()

  const base = `http://127.0.0.1:${broker.port}`
  const ready = await waitFor(`${base}/readyz`, (status) => status === 200, 60_000)
  const toReady = ready.at - broker.startedAt
  t.pass(`/readyz 200 after ${toReady} ms`)
  report('time to ready (docker run → /readyz 200)', `${(toReady / 1000).toFixed(1)} s`)
  t.match(JSON.parse(ready.body), { status: 'ready', components: { config: 'ok', keys: 'ok' } })

  const livez = await fetch(`${base}/livez`)
  t.equal(livez.status, 200)
  t.same(await livez.json(), { status: 'ok' })

  const jwt = signJwt(JWT_SECRET, 'alice')
  // The first request right after start: a freshly started, idle broker must not shed it, however
  // busy the machine (issue 13, "spurious load shedding").
  const token = await fetch(`${base}/v1/token`, { method: 'POST', headers: { authorization: `Bearer ${jwt}` } })
  const body = await token.json() as Record<string, unknown>
  t.equal(token.status, 200, `POST /v1/token through the published port: ${JSON.stringify(body)}`)
  t.equal(body.userId, 'alice')
  t.equal(body.appKey, APP_KEY)
  t.type(body.token, 'string')
  t.equal(token.headers.get('cache-control'), 'no-store')

  const unknownQuery = await fetch(`${base}/v1/token?foo=1`, { method: 'POST', headers: { authorization: `Bearer ${jwt}` } })
  t.equal(unknownQuery.status, 400, 'an unknown query parameter is refused')
  t.match(await unknownQuery.json(), { code: 'invalid_request' })
  const docs = await fetch(`${base}/docs`)
  t.equal(docs.status, 404, 'no docs UI by default in the image (NODE_ENV=production)')
  await docs.arrayBuffer()

  const inspect = JSON.parse(await docker(['inspect', '--format', '{{json .HostConfig}}', broker.name])) as { ReadonlyRootfs: boolean, CapDrop: string[], SecurityOpt: string[], PortBindings: Record<string, Array<{ HostIp: string }>> }
  t.equal(inspect.ReadonlyRootfs, true, 'read-only root filesystem')
  t.same(inspect.CapDrop, ['ALL'])
  t.same(inspect.PortBindings['8080/tcp']?.map((b) => b.HostIp), ['127.0.0.1'], 'published on 127.0.0.1 only')
  const inside = JSON.parse(await docker(['exec', broker.name, 'node', '-e', `
    const fs = require('node:fs')
    const status = fs.readFileSync('/proc/1/status', 'utf8')
    const field = (k) => status.split('\\n').find((l) => l.startsWith(k + ':'))?.split(/\\s+/)[1]
    let appWrite = 'ok'; try { fs.writeFileSync('/app/probe', 'x') } catch (e) { appWrite = e.code }
    let tmpWrite = 'ok'; try { fs.writeFileSync('/tmp/probe', 'x'); fs.rmSync('/tmp/probe') } catch (e) { tmpWrite = e.code }
    console.log(JSON.stringify({ uid: process.getuid(), gid: process.getgid(), capEff: field('CapEff'), capBnd: field('CapBnd'), noNewPrivs: field('NoNewPrivs'), appWrite, tmpWrite, pid1: fs.readFileSync('/proc/1/cmdline', 'utf8').split('\\0').filter(Boolean) }))`])) as Record<string, unknown>
  t.equal(inside.uid, 1000, 'runs as UID 1000')
  t.equal(inside.gid, 1000, 'GID 1000')
  t.equal(inside.capEff, '0000000000000000', 'no effective capability')
  t.equal(inside.capBnd, '0000000000000000', 'no capability in the bounding set')
  t.equal(inside.noNewPrivs, '1', 'no-new-privileges')
  t.equal(inside.appWrite, 'EROFS', 'the application directory cannot be written')
  t.equal(inside.tmpWrite, 'ok', '/tmp is writable (tmpfs)')
  t.same(inside.pid1, ['node', 'dist/server.js'], 'node is PID 1 (signals reach it)')

  const { status: healthStatus, at } = await healthy
  t.equal(healthStatus, 'healthy', `HEALTHCHECK healthy after ${((at - broker.startedAt) / 1000).toFixed(0)} s`)

  // Memory under load, for the chart's requests and limits (docs/benchmarks.md).
  for (let i = 0; i < 20; i++) {
    await Promise.all(Array.from({ length: 25 }, async (_, j) => {
      const r = await fetch(`${base}/v1/token`, { method: 'POST', headers: { authorization: `Bearer ${signJwt(JWT_SECRET, `user${i * 25 + j}`)}` } })
      await r.arrayBuffer()
    }))
  }
  const usage = (await docker(['stats', '--no-stream', '--format', '{{.MemUsage}}', broker.name])).trim()
  report('memory after 500 users (docker stats)', usage.split('/')[0]?.trim() ?? usage)
  t.pass(`memory after 500 users: ${usage}`)

  const stopBegan = Date.now()
  await docker(['stop', '-t', String(STOP_GRACE_S), broker.name])
  const stopMs = Date.now() - stopBegan
  const state = JSON.parse(await docker(['inspect', '--format', '{{json .State}}', broker.name])) as { ExitCode: number, OOMKilled: boolean }
  t.equal(state.ExitCode, 0, 'docker stop: exit code 0')
  t.equal(state.OOMKilled, false, `never killed for memory under the chart's ${limit} limit`)
  t.ok(stopMs < STOP_GRACE_S * 1000, `stopped in ${stopMs} ms, within the ${STOP_GRACE_S} s grace (no SIGKILL)`)
  report('docker stop', `${stopMs} ms, exit 0`)

  const combined = await logsOf(broker.name)
  t.match(combined, /"msg":"closed"/, 'the broker logged its graceful close')
  for (const [what, secret] of Object.entries({ 'the App Secret': APP_SECRET, 'the JWT secret': JWT_SECRET, 'a JWT': jwt, 'the token': String(body.token) })) {
    t.notOk(combined.includes(secret), `${what} never appears in the logs`)
  }
})

t.test('docs UI: off by default; with DOCS_ENABLED=true it renders over plain HTTP on a non-local host name', async (t) => {
  const broker = await runBroker(`${RUN_ID}-docs`, { ...brokerEnv, NEXCONN_APP_SECRET: APP_SECRET, DOCS_ENABLED: 'true' })
  const base = `http://127.0.0.1:${broker.port}`
  await waitFor(`${base}/readyz`, (status) => status === 200, 60_000)
  const page = await fetch(`${base}/docs/static/index.html`)
  t.equal(page.status, 200)
  const csp = page.headers.get('content-security-policy') ?? ''
  t.notMatch(csp, /upgrade-insecure-requests/, 'the docs UI\'s CSP does not upgrade its own requests to https')
  await page.arrayBuffer()
  // A browser treats 127.0.0.1 as secure; a host name it resolves to 127.0.0.1 is not, like a
  // user's http://<server>:8080/docs. The traffic still goes to 127.0.0.1 only.
  const shot = await screenshotDocs(`http://broker.test:${broker.port}/docs`, join(work, 'docs.png'))
  if (shot === undefined) { t.skip('no chromium on this machine', () => {}); return }
  t.match(shot.dom, /\/v1\/token/, 'the UI rendered the operations from /openapi.json')
  t.match(shot.dom, /opblock/, 'Swagger UI operation blocks present')
  report('docs UI screenshot', shot.kept)
})
