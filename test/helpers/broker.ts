/**
 * Builds the broker for a test: the emulator as a real HTTP server on loopback, the app from a
 * real configuration, logs captured in memory so tests can assert what was (not) logged.
 */
import { Writable } from 'node:stream'
import { createSigner } from 'fast-jwt'
import { pino } from 'pino'
import { buildApp, type App } from '../../src/app.ts'
import { loadConfig, type Config } from '../../src/config.ts'
import { startEmulator } from '../../src/emulator/index.ts'
import type { Emulator, EmulatorOptions } from '../../src/emulator/types.ts'
import { loggerOptions } from '../../src/logger.ts'
import { createNexconnClient } from '../../src/nexconn/index.ts'
import { serviceSettings, TokenService } from '../../src/tokens/service.ts'
import { MemoryStore, type TokenStore } from '../../src/tokens/store.ts'
import { TEST_ENCRYPTION_KEY, TEST_JWT_SECRET } from './env.ts'
import { redisModeEnv } from './redis.ts'

interface Teardown { teardown: (fn: () => unknown) => void }

export class LogCapture extends Writable {
  readonly lines: string[] = []
  override _write (chunk: Buffer, _encoding: BufferEncoding, callback: () => void): void {
    this.lines.push(...chunk.toString('utf8').split('\n').filter((line) => line !== ''))
    callback()
  }

  get text (): string { return this.lines.join('\n') }
  records (): Array<Record<string, unknown>> { return this.lines.map((line) => JSON.parse(line) as Record<string, unknown>) }
}

/**
 * The emulator as broker tests use it: primary and backup ports, and strict signing (timestamp
 * window, nonce reuse and uppercase hex refused), so a signing regression fails the suite. Only a
 * test about leniency itself passes `strict: false`.
 */
export async function emulatorFor (t: Teardown, options: EmulatorOptions = {}): Promise<Emulator> {
  const emulator = await startEmulator({ ports: [0, 0], strict: true, ...options })
  t.teardown(async () => { await emulator.close() })
  return emulator
}

/** The env of a broker talking to `emulator`, HS256 JWTs, optionally with Redis. */
export function brokerEnv (emulator: Emulator, extra: Record<string, string | undefined> = {}): Record<string, string | undefined> {
  // REDIS_MODE=sentinel|cluster (the CI matrix): the same server, reached through Sentinel or as a Cluster.
  const modeEnv = extra.REDIS_URL === undefined ? undefined : redisModeEnv(extra.REDIS_URL)
  if (modeEnv !== undefined) {
    const { REDIS_URL: _url, ...rest } = extra
    extra = { ...rest, ...modeEnv }
  }
  return {
    NEXCONN_APP_KEY: emulator.appKey,
    NEXCONN_APP_SECRET: emulator.appSecret,
    NEXCONN_API_URLS: emulator.urls.join(','),
    NEXCONN_TIMEOUT_MS: '1000',
    NEXCONN_DEADLINE_MS: '4000',
    JWT_SECRET: TEST_JWT_SECRET,
    LOG_LEVEL: 'info',
    // Herds of one user and busy CI machines: the rate limit and load shedding have their own tests.
    RATE_LIMIT_PER_MINUTE: '0',
    RATE_LIMIT_AUTH_FAILURES_PER_MINUTE: '0',
    MAX_EVENT_LOOP_DELAY_MS: '0',
    ...(extra.REDIS_URL !== undefined || extra.REDIS_SENTINELS !== undefined || extra.REDIS_CLUSTER_NODES !== undefined ? { TOKEN_ENCRYPTION_KEY: TEST_ENCRYPTION_KEY } : {}),
    ...extra
  }
}

export interface TestBroker {
  app: App
  config: Config
  logs: LogCapture
}

export async function brokerFor (t: Teardown, env: Record<string, string | undefined>, options: { ready?: boolean, setup?: (app: App) => void } = {}): Promise<TestBroker> {
  const config = loadConfig(env)
  const logs = new LogCapture()
  const app = await buildApp(config, { logger: pino(loggerOptions(config.server.logLevel), logs) })
  options.setup?.(app)
  t.teardown(async () => { await app.close() })
  if (options.ready !== false) await app.ready()
  return { app, config, logs }
}

const signer = createSigner({ key: TEST_JWT_SECRET, algorithm: 'HS256', noTimestamp: true })

/** An HS256 JWT for the test secret, valid for an hour unless `claims` says otherwise. */
export function jwtFor (sub: string, claims: Record<string, unknown> = {}): string {
  const now = Math.floor(Date.now() / 1000)
  return signer({ sub, name: `User ${sub}`, iat: now, exp: now + 3600, ...claims })
}

export function bearer (sub: string, claims: Record<string, unknown> = {}): { authorization: string } {
  return { authorization: `Bearer ${jwtFor(sub, claims)}` }
}

export const ISSUE = '/v4/auth/access-token/issue'
export const EXPIRE = '/v4/auth/access-token/expire'

export function issueCalls (emulator: Emulator): number {
  return emulator.stats().calls[ISSUE] ?? 0
}

export interface TokenServiceSetup {
  env?: Record<string, string>
  store?: TokenStore
  now?: () => number
}

/**
 * A TokenService on `emulator` as the tokens plugin builds it (settings from the configuration),
 * with a memory store unless given one; its Nexconn client is closed at teardown.
 */
export function tokenServiceFor (t: Teardown, emulator: Emulator, setup: TokenServiceSetup = {}): { service: TokenService, config: Config } {
  const config = loadConfig(brokerEnv(emulator, setup.env))
  const nexconn = createNexconnClient(config.nexconn, { logger: pino({ level: 'silent' }) })
  t.teardown(async () => { await nexconn.close() })
  const service = new TokenService({
    ...serviceSettings(config),
    store: setup.store ?? new MemoryStore(),
    nexconn,
    logger: pino({ level: 'silent' }),
    ...(setup.now === undefined ? {} : { now: setup.now })
  })
  return { service, config }
}
