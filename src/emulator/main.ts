/**
 * Standalone emulator (`npm run emulator`, `node dist/emulator/main.js`), like LocalStack for the Nexconn
 * Platform API. Settings come from EMULATOR_* variables (see env.ts). Exits 0 on SIGINT/SIGTERM after
 * closing every socket.
 */
import { pino } from 'pino'
import { EmulatorEnvError, readEmulatorEnv, type EmulatorEnv } from './env.ts'
import { startEmulator } from './index.ts'

let settings: EmulatorEnv
try {
  settings = readEmulatorEnv()
} catch (err) {
  if (!(err instanceof EmulatorEnvError)) throw err
  process.stderr.write(`nexconn-emulator: ${err.message}\n`)
  process.exit(1)
}

const logger = pino({ name: 'nexconn-emulator', level: settings.logLevel })
const emulator = await startEmulator({ ...settings.options, logger })
// Fake credentials of a dev tool, printed so developers can configure the broker; a secret supplied by
// the environment is someone's choice to keep, so it is not echoed.
logger.info(
  {
    urls: emulator.urls,
    appKey: emulator.appKey,
    appSecret: settings.secretFromEnv ? 'from env' : emulator.appSecret,
    control: `${emulator.urls[0]}/_emulator/stats`,
  },
  'Nexconn emulator ready'
)

let stopping = false
async function shutdown (signal: string): Promise<void> {
  if (stopping) return
  stopping = true
  logger.info({ signal }, 'shutting down')
  // A backstop in case something still holds the event loop; unref'd so it never delays a clean exit.
  setTimeout(() => process.exit(0), 5000).unref()
  await emulator.close()
  process.exitCode = 0
}
process.once('SIGINT', (s) => { void shutdown(s) })
process.once('SIGTERM', (s) => { void shutdown(s) })
