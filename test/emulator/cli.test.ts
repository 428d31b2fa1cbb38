import { spawn } from 'node:child_process'
import { writeFileSync, mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { once } from 'node:events'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import t, { type Test } from 'tap'
import { request } from 'undici'
import { EmulatorEnvError, readEmulatorEnv } from '../../src/emulator/env.ts'

const MAIN = fileURLToPath(new URL('../../src/emulator/main.ts', import.meta.url))

t.test('env: defaults', async (t) => {
  t.same(readEmulatorEnv({}), { options: { ports: [8090], host: '127.0.0.1' }, logLevel: 'info', secretFromEnv: false })
})

t.test('env: every setting', async (t) => {
  const env = readEmulatorEnv({
    EMULATOR_PORT: '9000',
    EMULATOR_BACKUP_PORT: '9001',
    EMULATOR_HOST: '0.0.0.0',
    EMULATOR_APP_KEY: 'key',
    EMULATOR_APP_SECRET: 'secret',
    EMULATOR_STRICT: 'true',
    EMULATOR_MAX_USERS: '100',
    EMULATOR_TOKEN_TTL_MS: '60000',
    EMULATOR_RETRY_AFTER: 'yes',
    EMULATOR_ERRORS_WITH_HTTP_200: '0',
    EMULATOR_LOG_LEVEL: 'debug',
  })
  t.same(env, {
    options: {
      ports: [9000, 9001],
      host: '0.0.0.0',
      appKey: 'key',
      appSecret: 'secret',
      strict: true,
      maxUsers: 100,
      tokenTtlMs: 60000,
      retryAfterOn429: true,
      errorsWithHttp200: false,
    },
    logLevel: 'debug',
    secretFromEnv: true,
  })
  t.same(readEmulatorEnv({ EMULATOR_STRICT: '5000' }).options.strict, { skewMs: 5000 })
})

t.test('env: secret from a file wins over the variable', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'emu-'))
  const file = join(dir, 'secret')
  writeFileSync(file, 'fileSecret\n')
  const env = readEmulatorEnv({ EMULATOR_APP_SECRET_FILE: file, EMULATOR_APP_SECRET: 'ignored' })
  t.equal(env.options.appSecret, 'fileSecret')
  t.equal(env.secretFromEnv, true)
  t.throws(() => readEmulatorEnv({ EMULATOR_APP_SECRET_FILE: join(dir, 'missing') }), EmulatorEnvError)
})

t.test('env: invalid values name the variable', async (t) => {
  t.throws(() => readEmulatorEnv({ EMULATOR_PORT: 'eighty' }), { message: /EMULATOR_PORT/ })
  t.throws(() => readEmulatorEnv({ EMULATOR_PORT: '70000' }), { message: /EMULATOR_PORT/ })
  t.throws(() => readEmulatorEnv({ EMULATOR_MAX_USERS: '-1' }), { message: /EMULATOR_MAX_USERS/ })
  t.throws(() => readEmulatorEnv({ EMULATOR_STRICT: 'maybe' }), { message: /EMULATOR_STRICT/ })
  t.throws(() => readEmulatorEnv({ EMULATOR_LOG_LEVEL: 'loud' }), { message: /EMULATOR_LOG_LEVEL/ })
  const err = (() => {
    try {
      readEmulatorEnv({ EMULATOR_APP_SECRET_FILE: '/nonexistent/topSecretPath' })
    } catch (e) {
      return e as Error
    }
  })()
  t.notMatch(err?.message, /topSecretPath/, 'the message does not echo the secret file path')
})

/** Runs main.ts; resolves with the parsed "ready" log line. */
async function startCli (t: Test, env: Record<string, string>) {
  const child = spawn(process.execPath, [MAIN], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  t.teardown(() => {
    if (child.exitCode === null) child.kill('SIGKILL')
  })
  const lines = createInterface({ input: child.stdout })
  for await (const line of lines) {
    const entry = JSON.parse(line)
    if (entry.msg === 'Nexconn emulator ready') return { child, ready: entry }
  }
  throw new Error('emulator exited before it was ready')
}

t.test('CLI: starts two ports, prints URLs and key, hides an env secret, exits 0 on SIGTERM', async (t) => {
  const { child, ready } = await startCli(t, { EMULATOR_PORT: '0', EMULATOR_BACKUP_PORT: '0', EMULATOR_APP_KEY: 'cliKey', EMULATOR_APP_SECRET: 'cliSecret' })
  t.equal(ready.urls.length, 2)
  t.equal(ready.appKey, 'cliKey')
  t.equal(ready.appSecret, 'from env')
  const health = await request(`${ready.urls[1]}/_emulator/health`)
  t.same(await health.body.json(), { ok: true, appKey: 'cliKey' })
  child.kill('SIGTERM')
  const [code] = await once(child, 'exit')
  t.equal(code, 0)
})

t.test('CLI: prints a generated secret; SIGINT also exits 0', async (t) => {
  const { child, ready } = await startCli(t, { EMULATOR_PORT: '0' })
  t.match(ready.appSecret, /^[A-Za-z0-9]{14}$/)
  child.kill('SIGINT')
  const [code] = await once(child, 'exit')
  t.equal(code, 0)
})

t.test('CLI: an invalid setting stops it with one line and exit 1', async (t) => {
  const child = spawn(process.execPath, [MAIN], { env: { ...process.env, EMULATOR_PORT: 'nope' }, stdio: ['ignore', 'pipe', 'pipe'] })
  let stderr = ''
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
  const [code] = await once(child, 'exit')
  t.equal(code, 1)
  t.match(stderr, /EMULATOR_PORT/)
})
