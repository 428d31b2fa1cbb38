/**
 * The Dockerfile and .dockerignore, checked without a Docker engine: lint-style rules on the
 * file, then a rehearsal of its stages in clean temporary directories (the same COPY sources,
 * the same RUN steps, the production-only install, the same CMD and ENV) that must end with the
 * service answering /livez and exiting 0 on SIGTERM. The rehearsal runs `npm ci` twice, so this
 * file has a generous timeout; npm prefers its local cache.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, posix, relative } from 'node:path'
import { once } from 'node:events'
import { setTimeout as sleep } from 'node:timers/promises'
import t, { type Test } from 'tap'
import { BUILD_TOOLCHAIN, trimForBuild } from '../../scripts/image/build-manifest.ts'
import { pruneModules } from '../../scripts/image/prune-modules.ts'
import { bare, cleanEnv, copyArgs, dockerignore, envArgs, execForm, freePort, parseDockerfile, readText, ROOT, run, type Stage } from './helpers.ts'

t.setTimeout(420_000)

const stages = parseDockerfile(readText('Dockerfile'))
const final = stages.at(-1) as Stage
const ignored = dockerignore(readText('.dockerignore'))
const pkg = JSON.parse(readText('package.json')) as { engines: { node: string } }

function all (stage: Stage, keyword: string): string[] {
  return stage.instructions.filter((i) => i.keyword === keyword).map((i) => i.args)
}

function stageEnv (stage: Stage): Record<string, string> {
  return Object.assign({}, ...all(stage, 'ENV').map(envArgs)) as Record<string, string>
}

t.test('multi-stage, every stage on node:24.x.y-<variant> pinned to one exact release', async (t) => {
  t.ok(stages.length >= 2, `${stages.length} stages`)
  const versions = new Set<string>()
  for (const stage of stages) {
    const match = /^node:(\d+)\.(\d+)\.(\d+)-([a-z0-9-]+)$/.exec(stage.image)
    t.ok(match, `FROM ${stage.image} is node:<major.minor.patch>-<variant>`)
    if (match === null) continue
    t.equal(match[1], '24', 'Node.js 24')
    versions.add(stage.image)
  }
  t.equal(versions.size, 1, 'build and runtime use the same base')
  const minimum = /(\d+)\.(\d+)/.exec(pkg.engines.node)
  const base = /^node:(\d+)\.(\d+)/.exec(final.image)
  t.ok(minimum !== null && base !== null && Number(base[1]) > Number(minimum[1]), 'base satisfies package.json engines')
})

t.test('build stage: npm ci then npm run build; deps stage: npm ci --omit=dev', async (t) => {
  const runs = stages.flatMap((s) => all(s, 'RUN').map((r) => ({ stage: s.name, run: r })))
  t.ok(runs.some((r) => /\bnpm ci\b/.test(r.run) && !/--omit=dev/.test(r.run)), 'a full npm ci for the build')
  t.ok(runs.some((r) => /\bnpm run build\b/.test(r.run)), 'npm run build')
  t.ok(runs.some((r) => /\bnpm ci\b.*--omit=dev/.test(r.run)), 'a production-only npm ci')
  t.notOk(runs.some((r) => /\bnpm install\b/.test(r.run)), 'npm ci, never npm install')
  t.equal(all(final, 'RUN').length, 0, 'the final stage runs nothing at build time')
  const fromStages = all(final, 'COPY').map(copyArgs).map((c) => c.flags.from).filter(Boolean)
  const prodStage = stages.find((s) => all(s, 'RUN').some((r) => /--omit=dev/.test(r)))
  t.ok(prodStage?.name !== undefined && fromStages.includes(prodStage.name), 'node_modules come from the production-only stage')
})

t.test('build stage: production dependencies plus the build toolchain only, at the locked versions', async (t) => {
  const build = stages.find((s) => all(s, 'RUN').some((r) => /\bnpm run build\b/.test(r))) as Stage
  t.match(all(build, 'RUN').join('\n'), /node scripts\/image\/build-manifest\.ts && npm ci\b/, 'the lockfile is trimmed before npm ci')
  const manifest = JSON.parse(readText('package.json')) as Parameters<typeof trimForBuild>[0]
  const lock = JSON.parse(readText('package-lock.json')) as Parameters<typeof trimForBuild>[1]
  const trimmed = trimForBuild(manifest, lock)
  t.same(Object.keys(trimmed.manifest.devDependencies ?? {}).sort(), [...BUILD_TOOLCHAIN].sort(), 'dev dependencies: the compiler and Node\'s types')
  t.same(trimmed.manifest.dependencies, manifest.dependencies, 'every production dependency')
  const locations = Object.keys(trimmed.lock.packages)
  for (const name of [...Object.keys(manifest.dependencies ?? {}), ...BUILD_TOOLCHAIN]) t.ok(locations.includes(`node_modules/${name}`), `${name} locked`)
  for (const devOnly of ['tap', 'eslint', '@aws-cdk/lambda-layer-kubectl-v33', 'kubernetes-models', 'typescript']) t.notOk(locations.includes(`node_modules/${devOnly}`), `no ${devOnly}`)
  for (const [location, entry] of Object.entries(trimmed.lock.packages)) {
    if (location !== '') t.same(entry, lock.packages[location], `${location}: the locked version and integrity, unchanged`)
  }
  t.ok(locations.length < Object.keys(lock.packages).length / 3, `${locations.length} of ${Object.keys(lock.packages).length} locked packages`)
  t.throws(() => trimForBuild(manifest, lock, ['not-a-dev-dependency']), /not dev dependencies/)
})

t.test('deps stage: production install pruned of what no program reads', async (t) => {
  const deps = stages.find((s) => all(s, 'RUN').some((r) => /--omit=dev/.test(r))) as Stage
  t.match(all(deps, 'RUN').join('\n'), /npm ci --omit=dev.*&& node scripts\/image\/prune-modules\.ts node_modules/)
  const dir = mkdtempSync(join(tmpdir(), 'ctb-prune-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const files: Record<string, string> = {
    'a/index.js': 'module.exports = 1',
    'a/index.d.ts': 'x',
    'a/index.js.map': 'x',
    'a/README.md': 'x',
    'a/LICENSE.md': 'x',
    'a/test/t.js': 'x',
    'a/dist/types/index.js': 'kept: runtime code in a folder named types',
    '@s/b/docs/x.md': 'x',
    '@s/b/static/ui.js': 'x',
    'a/node_modules/c/index.js': 'x',
    'a/node_modules/c/examples/e.js': 'x',
    'test/index.js': 'a package called test'
  }
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(join(dir, path, '..'), { recursive: true })
    writeFileSync(join(dir, path), content)
  }
  const result = pruneModules(dir)
  const left = listFiles(dir).sort()
  t.same(left, ['@s/b/static/ui.js', 'a/LICENSE.md', 'a/dist/types/index.js', 'a/index.js', 'a/node_modules/c/index.js', 'test/index.js'])
  t.equal(result.files, 6, 'six files: types, map, README, a test, a docs page, an example')
})

t.test('final stage: non-root numeric USER, NODE_ENV=production, exec-form CMD, HEALTHCHECK without a shell, OCI labels', async (t) => {
  const users = all(final, 'USER')
  t.equal(users.length, 1)
  const [uid, gid] = (users[0] ?? '').split(':')
  t.match(uid, /^\d+$/, 'numeric UID, so Kubernetes can check runAsNonRoot')
  t.not(uid, '0', 'not root')
  if (gid !== undefined) t.not(gid, '0', 'not the root group')
  t.ok(final.instructions.findIndex((i) => i.keyword === 'USER') > final.instructions.findLastIndex((i) => i.keyword === 'COPY'), 'USER after the last COPY')

  t.equal(stageEnv(final).NODE_ENV, 'production')
  t.same(execForm(all(final, 'CMD')[0] ?? ''), ['node', 'dist/server.js'], 'CMD ["node", "dist/server.js"]')
  t.equal(all(final, 'ENTRYPOINT').length, 0, 'no ENTRYPOINT: another CMD runs the emulator')
  t.notOk(stages.some((s) => s.instructions.some((i) => /npm (start|run start)/.test(i.args))), 'never npm start (it swallows signals)')

  const healthcheck = all(final, 'HEALTHCHECK')[0] ?? ''
  const command = /\bCMD\s+(\[.*\])\s*$/.exec(healthcheck)
  const argv = execForm(command?.[1] ?? '')
  t.ok(argv, 'HEALTHCHECK CMD in exec form (no shell)')
  t.equal(argv?.[0], 'node')
  t.match(argv?.join(' ') ?? '', /\/livez/, 'probes /livez')
  t.match(healthcheck, /--timeout=\d+s/)

  const labels = Object.assign({}, ...all(final, 'LABEL').map(envArgs)) as Record<string, string>
  for (const label of ['title', 'description', 'licenses', 'version']) {
    t.ok(labels[`org.opencontainers.image.${label}`], `org.opencontainers.image.${label}`)
  }
  t.match(all(final, 'EXPOSE').join(' '), /\b8080\b/)
})

t.test('no secret is baked into the image', async (t) => {
  const { VARIABLES } = await import('../../src/config.ts')
  const secrets = new Set(VARIABLES.filter((v) => v.secret === true).flatMap((v) => [v.name, `${v.name}_FILE`]))
  for (const stage of stages) {
    for (const name of Object.keys(stageEnv(stage))) t.notOk(secrets.has(name), `ENV ${name} is not a secret`)
    for (const arg of all(stage, 'ARG')) t.notOk(secrets.has(arg.split('=')[0] ?? ''), `ARG ${arg} is not a secret`)
  }
})

t.test('.dockerignore keeps secrets, VCS, tests, local files out and lets every COPY source in', async (t) => {
  for (const path of ['.env', '.env.local', 'src/.env', '.git', '.git/config', 'test', 'test/deploy/helpers.ts', 'node_modules', 'node_modules/fastify/package.json', 'dist/server.js', 'coverage/x', '.tap/x', 'helm/chat-token-broker/values.yaml', 'docker-compose.yml', 'README.md', 'npm-debug.log']) {
    t.ok(ignored(path), `${path} is ignored`)
  }
  const sources = stages.flatMap((s) => all(s, 'COPY').map(copyArgs).filter((c) => c.flags.from === undefined).flatMap((c) => c.sources))
  t.ok(sources.length > 0)
  for (const source of sources) {
    const path = posix.normalize(source).replace(/\/$/, '')
    t.notOk(ignored(path), `COPY source ${path} is in the context`)
    t.ok(existsSync(join(ROOT, path)), `${path} exists`)
  }
  t.notOk(ignored('src/server.ts'), 'files under src/ are in the context')
})

// ---------------------------------------------------------------------------------------------
// The rehearsal.

/** Copies a context path into a stage directory, leaving out what .dockerignore excludes. */
function copyFromContext (source: string, target: string): void {
  cpSync(join(ROOT, source), target, {
    recursive: true,
    filter: (from) => {
      const rel = relative(ROOT, from).split('\\').join('/')
      return rel === '' || !ignored(rel)
    }
  })
}

/** Resolves a destination (`./`, `./src`, `/app/dist`) inside the stage directory. */
function destination (dir: string, workdir: string, dest: string): string {
  const absolute = posix.isAbsolute(dest) ? dest : posix.join(workdir, dest)
  const rel = posix.relative(workdir, absolute)
  if (rel.startsWith('..')) throw new Error(`COPY outside WORKDIR: ${dest}`)
  return join(dir, rel)
}

interface Rehearsed { dirs: Map<string, string>, finalDir: string }

async function rehearse (t: Test, base: string): Promise<Rehearsed> {
  const dirs = new Map<string, string>()
  // A private npm cache directory would mean downloading everything; `npm cache clean` is left
  // out instead (it only shrinks the image), so the user's cache is never wiped.
  const npmEnv = cleanEnv({ npm_config_prefer_offline: 'true', npm_config_audit: 'false', npm_config_fund: 'false', npm_config_update_notifier: 'false' })
  let finalDir = ''
  for (const [index, stage] of stages.entries()) {
    const name = stage.name ?? String(index)
    const dir = join(base, name)
    mkdirSync(dir, { recursive: true })
    dirs.set(name, dir)
    let workdir = '/'
    const env: Record<string, string> = {}
    for (const instruction of stage.instructions) {
      switch (instruction.keyword) {
        case 'WORKDIR':
          workdir = instruction.args
          break
        case 'ENV':
          Object.assign(env, envArgs(instruction.args))
          break
        case 'COPY': {
          const { flags, sources, dest } = copyArgs(instruction.args)
          const target = destination(dir, workdir, dest)
          for (const source of sources) {
            if (flags.from !== undefined) {
              const fromDir = dirs.get(flags.from)
              if (fromDir === undefined) throw new Error(`COPY --from=${flags.from}: no such stage`)
              const rel = posix.relative(workdir, source)
              cpSync(join(fromDir, rel), dest.endsWith('/') ? join(target, posix.basename(source)) : target, { recursive: true })
            } else {
              const into = dest.endsWith('/') || sources.length > 1 ? join(target, posix.basename(source)) : target
              copyFromContext(source, into)
            }
          }
          break
        }
        case 'RUN': {
          for (const step of instruction.args.split('&&').map((s) => s.trim())) {
            if (/^npm cache clean\b/.test(step)) continue
            const started = Date.now()
            await run(...bare(['sh', '-c', step]), { cwd: dir, env: { ...npmEnv, ...env }, maxBuffer: 64 * 1024 * 1024 })
            t.pass(`stage ${name}: ${step} (${((Date.now() - started) / 1000).toFixed(1)} s)`)
          }
          break
        }
        default:
          break
      }
    }
    finalDir = dir
  }
  return { dirs, finalDir }
}

function listFiles (dir: string, prefix = ''): string[] {
  const out: string[] = []
  for (const entry of readdirSync(join(dir, prefix), { withFileTypes: true })) {
    const rel = prefix === '' ? entry.name : `${prefix}/${entry.name}`
    if (entry.isDirectory()) out.push(...(rel === 'node_modules' ? [rel] : listFiles(dir, rel)))
    else out.push(rel)
  }
  return out
}

async function waitForHttp (url: string, child: ChildProcess, stderr: () => string): Promise<Response> {
  const deadline = Date.now() + 30_000
  let lastError: unknown
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`exited with ${child.exitCode} before answering ${url}: ${stderr()}`)
    try {
      return await fetch(url, { signal: AbortSignal.timeout(2_000) })
    } catch (err) {
      lastError = err
      await sleep(200)
    }
  }
  throw new Error(`${url} did not answer in 30 s: ${String(lastError)} ${stderr()}`)
}

function startProcess (argv: string[], cwd: string, env: Record<string, string>): { child: ChildProcess, output: () => string } {
  const [command, args] = bare(argv)
  const child = spawn(command, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  child.stdout?.on('data', (chunk: Buffer) => { output += chunk.toString() })
  child.stderr?.on('data', (chunk: Buffer) => { output += chunk.toString() })
  return { child, output: () => output.slice(-4000) }
}

async function stop (child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null) return child.exitCode
  const exited = once(child, 'exit')
  child.kill('SIGTERM')
  const timer = setTimeout(() => child.kill('SIGKILL'), 20_000)
  await exited
  clearTimeout(timer)
  return child.exitCode
}

t.test('rehearsal: the stages in clean directories, then the CMD serves /livez and exits 0 on SIGTERM', async (t) => {
  const base = mkdtempSync(join(tmpdir(), 'ctb-docker-rehearsal-'))
  t.teardown(() => rmSync(base, { recursive: true, force: true }))
  const { finalDir } = await rehearse(t, base)

  const files = listFiles(finalDir)
  t.ok(files.includes('dist/server.js'), 'dist/server.js built')
  t.notOk(files.includes('dist/dev.js'), 'no dist/dev.js: local mode needs dev dependencies and is not shipped')
  t.notOk(files.some((f) => f.endsWith('.map')), 'no source maps')
  t.notOk(files.some((f) => f.startsWith('src/') || f.startsWith('test/')), 'no sources or tests in the final stage')
  for (const devOnly of ['typescript', 'tap', '@types/node']) {
    t.notOk(existsSync(join(finalDir, 'node_modules', devOnly)), `no dev dependency ${devOnly}`)
  }
  t.ok(existsSync(join(finalDir, 'node_modules', 'fastify')), 'production dependencies installed')
  const before = new Map(files.filter((f) => f !== 'node_modules').map((f) => [f, statSync(join(finalDir, f)).mtimeMs]))

  const imageEnv = stageEnv(final)
  const cmd = execForm(all(final, 'CMD')[0] ?? '') as string[]
  const baseEnv = { PATH: process.env.PATH ?? '', ...imageEnv, LOG_LEVEL: 'warn' }

  // The emulator runs from the same image with another command; the broker is pointed at it.
  const nexconnPort = await freePort()
  let emulator: ReturnType<typeof startProcess> | undefined
  if (existsSync(join(finalDir, 'dist', 'emulator', 'main.js'))) {
    emulator = startProcess(['node', 'dist/emulator/main.js'], finalDir, { ...baseEnv, EMULATOR_PORT: String(nexconnPort), EMULATOR_HOST: '127.0.0.1', EMULATOR_APP_KEY: 'rehearsal', EMULATOR_APP_SECRET: 'rehearsal-secret' })
    const child = emulator.child
    t.teardown(async () => { await stop(child) })
    const health = await waitForHttp(`http://127.0.0.1:${nexconnPort}/_emulator/health`, child, emulator.output)
    t.equal(health.status, 200, 'the emulator answers from the same image (node dist/emulator/main.js)')
    await health.arrayBuffer()
  } else {
    t.comment('dist/emulator/main.js is not built yet: emulator rehearsal skipped')
  }

  const port = await freePort()
  const broker = startProcess(cmd, finalDir, {
    ...baseEnv,
    NEXCONN_APP_KEY: 'rehearsal',
    NEXCONN_APP_SECRET: 'rehearsal-secret',
    NEXCONN_API_URLS: `http://127.0.0.1:${nexconnPort}`,
    JWT_SECRET: 'rehearsal-jwt-secret-that-is-long-enough-0123456789',
    PORT: String(port),
    HOST: '127.0.0.1'
  })
  t.teardown(async () => { await stop(broker.child) })
  const livez = await waitForHttp(`http://127.0.0.1:${port}/livez`, broker.child, broker.output)
  t.equal(livez.status, 200, `/livez answers 200 (${cmd.join(' ')})`)
  t.same(await livez.json(), { status: 'ok' })
  const readyz = await fetch(`http://127.0.0.1:${port}/readyz`)
  t.ok([200, 503].includes(readyz.status), `/readyz answers (${readyz.status})`)
  await readyz.arrayBuffer()

  t.equal(await stop(broker.child), 0, 'exit code 0 after SIGTERM')
  if (emulator !== undefined) t.equal(await stop(emulator.child), 0, 'the emulator exits 0 on SIGTERM')
  const after = listFiles(finalDir).filter((f) => f !== 'node_modules')
  t.same(after.filter((f) => !before.has(f)), [], 'the service wrote no file into its directory (read-only root filesystem)')
})
