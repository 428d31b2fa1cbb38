/** Shared helpers for the Nexconn client tests: an emulator and a client bound to a test's lifetime. */
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Writable } from 'node:stream'
import { pino, type Logger } from 'pino'
import { loadConfig, type Config } from '../../src/config.ts'
import { startEmulator, type Emulator, type EmulatorOptions } from '../../src/emulator/index.ts'
import { createNexconnClient, type NexconnClient, type NexconnDeps } from '../../src/nexconn/index.ts'

export const ISSUE = '/v4/auth/access-token/issue'
export const EXPIRE = '/v4/auth/access-token/expire'
export const USER_UPDATE = '/v4/user/update'

interface Teardown { teardown: (fn: () => unknown) => void }

/** Strict signing unless a test is about leniency itself (see emulatorFor in ../helpers/broker.ts). */
export async function emulator (t: Teardown, opts: EmulatorOptions = {}): Promise<Emulator> {
  const emu = await startEmulator({ ports: [0, 0], strict: true, ...opts })
  t.teardown(() => emu.close())
  return emu
}

export function nexconnConfig (urls: string[], appKey: string, appSecret: string, env: Record<string, string> = {}): Config['nexconn'] {
  return loadConfig({
    NEXCONN_APP_KEY: appKey,
    NEXCONN_APP_SECRET: appSecret,
    NEXCONN_API_URLS: urls.join(','),
    JWT_SECRET: 'x'.repeat(32),
    ...env
  }).nexconn
}

/** Log lines written by the client, parsed, for assertions on what was (not) logged. */
export interface CapturedLogger { logger: Logger, lines: Array<Record<string, unknown>>, text: () => string }

export function capturingLogger (): CapturedLogger {
  const lines: Array<Record<string, unknown>> = []
  const raw: string[] = []
  const stream = new Writable({
    write (chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (line === '') continue
        raw.push(line)
        lines.push(JSON.parse(line) as Record<string, unknown>)
      }
      callback()
    }
  })
  return { logger: pino({ level: 'debug' }, stream), lines, text: () => raw.join('\n') }
}

export interface ClientSetup {
  urls?: string[]
  env?: Record<string, string>
  deps?: Partial<NexconnDeps>
}

export function client (t: Teardown, emu: Emulator, setup: ClientSetup = {}): NexconnClient {
  const config = nexconnConfig(setup.urls ?? emu.urls, emu.appKey, emu.appSecret, setup.env)
  const nexconn = createNexconnClient(config, { logger: pino({ level: 'silent' }), ...setup.deps })
  t.teardown(() => nexconn.close())
  return nexconn
}

export const elapsedSince = (started: number): number => performance.now() - started

/** What a promise rejected with (fails loudly if it resolved). */
export async function rejection (promise: Promise<unknown>): Promise<Record<string, unknown>> {
  try {
    await promise
  } catch (err) {
    return err as Record<string, unknown>
  }
  throw new Error('expected a rejection')
}

/** A loopback server answering every request with one fixed response. */
export async function fixedServer (t: Teardown, status: number, body: string | Buffer, headers: Record<string, string> = {}): Promise<{ url: string, hits: () => number }> {
  let hits = 0
  const server: Server = createServer((req, res) => {
    hits++
    req.resume()
    req.on('end', () => {
      res.writeHead(status, { 'content-type': 'application/json', ...headers })
      res.end(body)
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => { resolve() }) }))
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, hits: () => hits }
}
