/**
 * The client's tests talk HTTP to the real broker: `buildApp` with the emulator in strict signing
 * mode, listening on 127.0.0.1, exactly what an app would call. The broker records every
 * POST /v1/token it answered, so tests count requests where they arrive, not in the client.
 */
import { execFile } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import type { App } from '../../src/app.ts'
import type { Emulator, EmulatorOptions } from '../../src/emulator/types.ts'
import { brokerEnv, brokerFor, emulatorFor, type LogCapture } from '../helpers/broker.ts'

interface Teardown { teardown: (fn: () => unknown) => void }

export const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)))

export interface TokenRequestRecord {
  forceRefresh: boolean
  status: number
  retryAfter: string | undefined
}

export interface LiveBroker {
  url: string
  emulator: Emulator
  app: App
  logs: LogCapture
  /** Every POST /v1/token the broker answered, in order. */
  requests: TokenRequestRecord[]
  /** Every request the broker answered, as `METHOD /path status`. */
  seen: string[]
}

export async function liveBroker (t: Teardown, env: Record<string, string | undefined> = {}, emulatorOptions: EmulatorOptions = {}): Promise<LiveBroker> {
  const emulator = await emulatorFor(t, { strict: true, ...emulatorOptions })
  const requests: TokenRequestRecord[] = []
  const seen: string[] = []
  const { app, logs } = await brokerFor(t, brokerEnv(emulator, env), {
    setup: (app) => {
      app.addHook('onResponse', (request, reply, done) => {
        seen.push(`${request.method} ${request.url} ${reply.statusCode}`)
        if (request.method === 'POST' && request.url === '/v1/token') {
          const body = request.body as { forceRefresh?: boolean } | undefined
          const retryAfter = reply.getHeader('retry-after')
          requests.push({ forceRefresh: body?.forceRefresh === true, status: reply.statusCode, retryAfter: retryAfter === undefined ? undefined : String(retryAfter) })
        }
        done()
      })
    }
  })
  const url = await app.listen({ host: '127.0.0.1', port: 0 })
  return { url, emulator, app, logs, requests, seen }
}

/** A `sleep` for the provider that waits for nothing: it records the delay and runs `during` (what happens meanwhile). */
export function instantSleep (during?: (ms: number) => unknown): { waits: number[], sleep: (ms: number) => Promise<void> } {
  const waits: number[] = []
  return {
    waits,
    sleep: async (ms: number) => {
      waits.push(ms)
      await during?.(ms)
    }
  }
}

/** A clock the test moves by hand. */
export function manualClock (start = Date.now()): { now: () => number, set: (ms: number) => void, advance: (ms: number) => void } {
  let time = start
  return { now: () => time, set: (ms) => { time = ms }, advance: (ms) => { time += ms } }
}

/** Rejection of `promise`, or a failure if it resolved. */
export async function rejection (promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise
  } catch (err) {
    return err
  }
  throw new Error('expected a rejection')
}

const run = promisify(execFile)

/**
 * Runs the project's `tsc` (TypeScript 7) without the test runner's loaders, which make the
 * compiler's launcher crash before it compiles anything. tap's process hook re-adds
 * NODE_OPTIONS to every spawn's environment, so the child drops it through `env -u`.
 */
export async function tsc (args: string[]): Promise<{ ok: boolean, output: string }> {
  try {
    const { stdout } = await run('env', ['-u', 'NODE_OPTIONS', join(ROOT, 'node_modules', '.bin', 'tsc'), ...args], { cwd: ROOT })
    return { ok: true, output: stdout }
  } catch (err) {
    const { stdout, stderr } = err as { stdout?: string, stderr?: string }
    return { ok: false, output: `${stdout ?? ''}${stderr ?? ''}` }
  }
}

/** Builds the client package with its own build config into a fresh directory; removed when the test ends. */
export async function buildClient (t: Teardown): Promise<string> {
  const outDir = mkdtempSync(join(tmpdir(), 'ctb-client-'))
  t.teardown(() => { rmSync(outDir, { recursive: true, force: true }) })
  const build = await tsc(['-p', join(ROOT, 'client', 'tsconfig.build.json'), '--outDir', outDir])
  if (!build.ok) throw new Error(`the client does not build:\n${build.output}`)
  // As in the package: its .js files are ES modules.
  writeFileSync(join(outDir, 'package.json'), '{"type": "module"}\n')
  return outDir
}
