/**
 * The production process: read the configuration, build the app, listen, and close gracefully
 * on SIGTERM/SIGINT. Never falls back to local mode: without real credentials it refuses to
 * start, with one line per problem.
 */
import closeWithGrace from 'close-with-grace'
import { buildApp, type App } from './app.ts'
import { ConfigError, loadConfig, type Config, type Env } from './config.ts'
import { createLogger } from './logger.ts'

export interface StartOptions {
  /** Prettier logs for a terminal (`npm run dev`). */
  pretty?: boolean
  /** Runs when the app closes, after it stopped serving (`npm run dev` stops its emulator). */
  onClose?: () => Promise<void>
  /** Called once listening, with the bound address (used by `npm run dev` to print its banner). */
  onListening?: (address: string, app: App) => void
}

/** Starts the service with an already-loaded configuration; resolves once it listens. */
export async function startServer (config: Config, options: StartOptions = {}): Promise<App> {
  const logger = createLogger(config.server.logLevel, { pretty: options.pretty === true })
  const app = await buildApp(config, { logger })
  const onClose = options.onClose
  if (onClose !== undefined) app.addHook('onClose', async () => { await onClose() })

  closeWithGrace({ delay: config.server.shutdownGraceMs + 2_000, logger }, async ({ signal, err }) => {
    if (err !== undefined) logger.error({ err }, 'fatal error, closing')
    else logger.info({ signal }, 'shutting down')
    app.readiness.beginShutdown()
    await app.close()
  })

  const address = await app.listen({ host: config.server.host, port: config.server.port })
  options.onListening?.(address, app)
  return app
}

/** Reads the configuration or exits with one line per problem (exit code 78, EX_CONFIG). */
export function configOrExit (env: Env, runMode: Config['runMode']): Config {
  try {
    return loadConfig(env, { runMode })
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err
    for (const problem of err.problems) process.stderr.write(`config error: ${problem}\n`)
    process.stderr.write('chat-token-broker: refusing to start; see the Configuration section of the README.\n')
    process.exit(78)
  }
}

// Run only as the entry point (`node dist/server.js`), not when imported by `dev.ts` or tests.
if (import.meta.main) {
  await startServer(configOrExit(process.env, 'production'))
}
