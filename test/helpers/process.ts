/**
 * Broker processes for tests that need real separate processes (replicas, a lock holder that is
 * killed mid-call, SIGTERM): `node src/server.ts` with a given environment, on a free loopback port.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { setTimeout as sleep } from 'node:timers/promises'
import { freePort } from './redis.ts'

interface Teardown { teardown: (fn: () => unknown) => void }

export interface BrokerProcess {
  readonly url: string
  readonly child: ChildProcess
  readonly output: () => string
  /** Resolves with the exit code (or signal name). */
  readonly exited: Promise<number | string>
  kill: (signal?: NodeJS.Signals) => void
}

const SERVER = fileURLToPath(new URL('../../src/server.ts', import.meta.url))

export async function startBrokerProcess (t: Teardown, env: Record<string, string | undefined>, options: { entry?: string } = {}): Promise<BrokerProcess> {
  const port = await freePort()
  const child = spawn(process.execPath, [options.entry ?? SERVER], {
    env: { PATH: process.env.PATH, ...env, PORT: String(port), HOST: '127.0.0.1' },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let output = ''
  child.stdout?.on('data', (chunk: Buffer) => { output += chunk.toString() })
  child.stderr?.on('data', (chunk: Buffer) => { output += chunk.toString() })
  const exited = new Promise<number | string>((resolve) => { child.once('exit', (code, signal) => { resolve(code ?? signal ?? 'unknown') }) })
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL')
      await exited
    }
  })
  const url = `http://127.0.0.1:${port}`
  const deadline = Date.now() + 15_000
  for (;;) {
    if (child.exitCode !== null) throw new Error(`broker exited early:\n${output}`)
    try {
      if ((await fetch(`${url}/livez`)).ok) break
    } catch { /* not listening yet */ }
    if (Date.now() > deadline) throw new Error(`broker did not start:\n${output}`)
    await sleep(50)
  }
  return { url, child, output: () => output, exited, kill: (signal = 'SIGKILL') => { child.kill(signal) } }
}
