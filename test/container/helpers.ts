/**
 * Shared by the container tests (`npm run test:container`, which prepares the engine and base
 * images and passes the docker CLI and its environment down): docker commands, free ports,
 * waiting for HTTP on 127.0.0.1, a test JWT, and the report of measured figures.
 */
import { appendFileSync } from 'node:fs'
import { setTimeout as sleep } from 'node:timers/promises'
import { createSigner } from 'fast-jwt'
import { capture, succeeds } from '../../scripts/container/exec.ts'

export { freePort } from '../helpers/redis.ts'
export { ROOT } from '../deploy/helpers.ts'

/** The docker CLI chosen by the runner (scripts/container/test.ts). */
export const DOCKER = process.env.CTB_DOCKER ?? 'docker'

/** Runs `docker <args>` and returns stdout. */
export async function docker (args: string[], options: { cwd?: string, env?: NodeJS.ProcessEnv, timeoutMs?: number, input?: string } = {}): Promise<string> {
  return await capture([DOCKER, ...args], { env: { ...process.env, ...options.env }, cwd: options.cwd, timeoutMs: options.timeoutMs ?? 600_000, input: options.input })
}

export async function dockerOk (args: string[]): Promise<boolean> {
  return await succeeds([DOCKER, ...args])
}

/** true when the runner prepared an engine (the files are skipped when run by plain tap). */
export const ENGINE_READY = process.env.CTB_CONTAINER_ENGINE === 'ready'

/** Polls `url` until `accept(response)` or the deadline; returns the accepted response and when it came. */
export async function waitFor (url: string, accept: (status: number) => boolean, timeoutMs: number): Promise<{ status: number, body: string, at: number }> {
  const deadline = Date.now() + timeoutMs
  let last = 'no answer'
  for (;;) {
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(2_000) })
      const body = await response.text()
      if (accept(response.status)) return { status: response.status, body, at: Date.now() }
      last = `${response.status} ${body.slice(0, 200)}`
    } catch (err) {
      last = String(err)
    }
    if (Date.now() > deadline) throw new Error(`${url}: not ready after ${timeoutMs} ms (last: ${last})`)
    await sleep(250)
  }
}

/** An HS256 JWT for `sub`, valid for 10 minutes. */
export function signJwt (secret: string, sub: string): string {
  return createSigner({ key: secret, algorithm: 'HS256', expiresIn: 600_000 })({ sub, name: `User ${sub}` })
}

/** Records a measured figure for the runner's closing report. */
export function report (name: string, value: string): void {
  const file = process.env.CTB_CONTAINER_REPORT
  if (file !== undefined) appendFileSync(file, JSON.stringify({ name, value }) + '\n')
}

/** A container's health status, or '' when it has no health check. */
export async function health (name: string): Promise<string> {
  return (await docker(['inspect', '--format', '{{if .State.Health}}{{.State.Health.Status}}{{end}}', name])).trim()
}

export function mib (bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`
}

/** stdout and stderr of a container, interleaved as docker logs prints them. */
export async function logsOf (name: string): Promise<string> {
  return await capture(['sh', '-c', '"$0" logs "$1" 2>&1', DOCKER, name])
}
