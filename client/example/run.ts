/**
 * `npm run example`: the broker in local mode (`npm run dev`, unchanged: the embedded emulator,
 * an in-memory cache) and the example page on a second origin, wired together — one generated
 * JWT secret for both, and the page's origin in the broker's CORS_ORIGINS. Local development
 * only: everything listens on 127.0.0.1.
 *
 * BROKER_PORT (default 8080) and EXAMPLE_PORT (default 5173) choose the ports.
 */
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { startExampleServer } from './server.ts'

const HOST = '127.0.0.1'
const DEV = fileURLToPath(new URL('../../src/dev.ts', import.meta.url))
const CLIENT_INDEX = fileURLToPath(new URL('../dist/index.js', import.meta.url))

const brokerPort = Number(process.env.BROKER_PORT ?? 8080)
const pagePort = Number(process.env.EXAMPLE_PORT ?? 5173)
const brokerUrl = `http://${HOST}:${brokerPort}`
const pageOrigins = [`http://${HOST}:${pagePort}`, `http://localhost:${pagePort}`]
// The page's server signs demo JWTs with it and the broker verifies them; it lives as long as this run.
const jwtSecret = randomBytes(32).toString('base64url')

const broker = spawn(process.execPath, [DEV], {
  env: { ...process.env, PORT: String(brokerPort), HOST, JWT_SECRET: jwtSecret, CORS_ORIGINS: pageOrigins.join(',') },
  stdio: ['ignore', 'inherit', 'inherit']
})
const brokerExited = new Promise<number>((resolve) => { broker.once('exit', (code) => { resolve(code ?? 1) }) })

async function brokerReady (): Promise<boolean> {
  const deadline = Date.now() + 30_000
  while (Date.now() < deadline && broker.exitCode === null) {
    try {
      if ((await fetch(`${brokerUrl}/livez`)).ok) return true
    } catch { /* not listening yet */ }
    await sleep(100)
  }
  return false
}

if (!await brokerReady()) {
  process.stderr.write(`example: the broker did not start on ${brokerUrl} (is the port taken? set BROKER_PORT)\n`)
  broker.kill('SIGTERM')
  process.exit(await brokerExited || 1)
}

const page = await startExampleServer({ host: HOST, port: pagePort, brokerUrl, jwtSecret })
process.stdout.write([
  '',
  `  Example page:  ${page.url}   (served from its own origin; the broker allows it through CORS_ORIGINS)`,
  `  Broker:        ${brokerUrl}`,
  existsSync(CLIENT_INDEX) ? '' : '  The client is not built: run `npm run build:client` (npm run example does it first).',
  ''
].join('\n') + '\n')

let stopping = false
async function stop (): Promise<void> {
  if (stopping) return
  stopping = true
  await page.close()
  broker.kill('SIGTERM')
  process.exit(await brokerExited)
}
process.once('SIGINT', () => { void stop() })
process.once('SIGTERM', () => { void stop() })
void brokerExited.then(async (code) => {
  if (stopping) return
  process.stderr.write(`example: the broker exited (${code})\n`)
  await page.close()
  process.exit(code || 1)
})
