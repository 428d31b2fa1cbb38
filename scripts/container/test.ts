/**
 * `npm run test:container`: the image and the compose stack built and run for real.
 *
 *  1. A container engine: the Docker daemon that answers, or Debian's docker.io installed and
 *     started privately (root only), stopped again at the end (engine.ts).
 *  2. Docker Compose 2.24 or later (compose.ts).
 *  3. The base images the Dockerfile and docker-compose.yml name: pulled when a registry answers,
 *     otherwise local stand-ins under the same names (base-images.ts). The Dockerfile and the
 *     compose file are used as they are.
 *  4. The tap files test/container/*.container.ts, one at a time, with the engine's environment.
 *  5. A report of the measured figures (build time, image size, time to ready, ...).
 *
 * With CI=true everything must run: no engine is a failure. Elsewhere the run is skipped, with the
 * reason, when no engine answers and none can be installed. The closing tap summary line is what
 * .ci/run counts.
 */
import { mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { spawn } from 'node:child_process'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { aptInstall, canInstall } from './apt.ts'
import { baseImageNames, ensureBaseImages } from './base-images.ts'
import { ensureCompose } from './compose.ts'
import { CACHE_DIR, ensureEngine, type Engine } from './engine.ts'
import { capture, killChildren } from './exec.ts'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..')
const TEST_DIR = join(ROOT, 'test', 'container')
const REQUIRED = process.env.CI === 'true'
/** Our own images in docker-compose.yml (built, not pulled). */
const OWN_IMAGES = ['chat-token-broker:local']
/** The tag test/container/image.container.ts builds. */
const TEST_IMAGE = 'chat-token-broker:container-test'

async function runTap (engine: Engine, reportFile: string, artifacts: string): Promise<number> {
  // One file at a time (tap orders them by name): both build the image and start containers.
  const files = readdirSync(TEST_DIR).filter((name) => name.endsWith('.container.ts')).sort().map((name) => join('test', 'container', name))
  const env = {
    ...engine.env,
    CTB_DOCKER: engine.docker,
    CTB_CONTAINER_ENGINE: 'ready',
    CTB_CONTAINER_REPORT: reportFile,
    CTB_CONTAINER_ARTIFACTS: artifacts
  }
  const tap = join(ROOT, 'node_modules', '.bin', 'tap')
  // tap's plugin set must be rebuilt after a fresh npm ci (see .taprc); a no-op otherwise.
  for (const args of [['build'], ['--jobs=1', '--timeout=1200', ...files]]) {
    const code = await new Promise<number>((resolve) => {
      const child = spawn(tap, args, { cwd: ROOT, env, stdio: ['ignore', 'inherit', 'inherit'] })
      child.on('close', (status) => { resolve(status ?? 1) })
    })
    if (code !== 0) return code
  }
  return 0
}

function printReport (lines: Array<[string, string]>, reportFile: string): void {
  try {
    for (const line of readFileSync(reportFile, 'utf8').split('\n').filter(Boolean)) {
      const { name, value } = JSON.parse(line) as { name: string, value: string }
      lines.push([name, value])
    }
  } catch { /* no figure recorded */ }
  const width = Math.max(...lines.map(([name]) => name.length))
  process.stdout.write('\ncontainer test report\n')
  for (const [name, value] of lines) process.stdout.write(`  ${name.padEnd(width)}  ${value}\n`)
  process.stdout.write('\n')
}

/**
 * The images the tests built, and the dangling layers of earlier builds, so a long-lived data root
 * does not grow with every run. Base images and stand-ins stay: they are the cache.
 */
async function removeTestImages (engine: Engine): Promise<void> {
  for (const image of [TEST_IMAGE, ...(engine.owned ? OWN_IMAGES : [])]) {
    await capture([engine.docker, 'image', 'rm', '--force', image], { env: engine.env }).catch(() => '')
  }
  if (engine.owned) await capture([engine.docker, 'image', 'prune', '--force'], { env: engine.env }).catch(() => '')
}

async function main (): Promise<number> {
  const began = Date.now()
  const outcome = await ensureEngine()
  if ('unavailable' in outcome) {
    if (REQUIRED) {
      process.stderr.write(`container tests cannot run: ${outcome.unavailable}\n`)
      return 1
    }
    process.stdout.write(`SKIP container tests: ${outcome.unavailable}. Run as root on Debian (apt-get), or start a Docker daemon, to run them.\n`)
    return 0
  }
  const { engine } = outcome
  const stopOnSignal = (signal: NodeJS.Signals): void => {
    killChildren()
    void engine.stop().finally(() => process.exit(signal === 'SIGINT' ? 130 : 143))
  }
  process.once('SIGINT', stopOnSignal)
  process.once('SIGTERM', stopOnSignal)
  const reportDir = join(tmpdir(), `ctb-container-${process.pid}`)
  mkdirSync(reportDir, { recursive: true })
  const reportFile = join(reportDir, 'report.jsonl')
  const artifacts = join(CACHE_DIR, 'artifacts')
  try {
    const lines: Array<[string, string]> = [['docker engine', engine.version]]
    lines.push(['docker compose', await ensureCompose(engine)])
    // The docs UI is checked in a real browser; a machine without apt skips only that check.
    if (canInstall()) await aptInstall(['chromium', 'fonts-liberation'])
    const names = baseImageNames(readFileSync(join(ROOT, 'Dockerfile'), 'utf8'), readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8'), OWN_IMAGES)
    for (const image of await ensureBaseImages(engine, names)) lines.push([`base image ${image.name}`, image.source === 'standin' ? 'local stand-in, built now' : image.source])
    lines.push(['setup', `${((Date.now() - began) / 1000).toFixed(0)} s`])
    const testsBegan = Date.now()
    const status = await runTap(engine, reportFile, artifacts)
    lines.push(['container tests', `${((Date.now() - testsBegan) / 1000).toFixed(0)} s`])
    printReport(lines, reportFile)
    return status
  } finally {
    await removeTestImages(engine)
    await engine.stop()
    rmSync(reportDir, { recursive: true, force: true })
  }
}

process.exitCode = await main()
