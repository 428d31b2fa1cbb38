/**
 * The production process: read the configuration, build the app, listen, and close gracefully.
 *
 * On SIGTERM or SIGINT: `/readyz` fails at once; the broker keeps serving for
 * `SHUTDOWN_DELAY_MS` (so load balancers stop routing to it), then stops accepting connections,
 * lets in-flight requests finish for up to `SHUTDOWN_GRACE_MS`, closes idle keep-alive
 * connections, Redis and the Nexconn pools, and exits 0. Never falls back to local mode: without
 * real credentials it refuses to start, with one line per problem.
 */
import { createServer, type Server } from 'node:http'
import { setTimeout as sleep } from 'node:timers/promises'
import closeWithGrace from 'close-with-grace'
import { buildApp, type App } from './app.ts'
import { ConfigError, loadConfig, type Config, type Env } from './config.ts'
import { createLogger } from './logger.ts'
import { Metrics } from './metrics/metrics.ts'

export interface StartOptions {
  /** Prettier logs for a terminal (`npm run dev`). */
  pretty?: boolean
  /** Runs when the app closes, after it stopped serving (`npm run dev` stops its emulator). */
  onClose?: () => Promise<void>
  /** Called once listening, with the bound address (used by `npm run dev` to print its banner). */
  onListening?: (address: string, app: App) => void
}

/** `/metrics` alone on METRICS_PORT, so the API port can be public while metrics stay internal. */
async function startMetricsServer (metrics: Metrics, host: string, port: number): Promise<Server> {
  const server = createServer((request, response) => {
    if (request.method !== 'GET' || request.url?.split('?')[0] !== '/metrics') {
      response.writeHead(404).end()
      return
    }
    metrics.registry.metrics().then(
      (body) => { response.writeHead(200, { 'content-type': metrics.registry.contentType }).end(body) },
      () => { response.writeHead(500).end() }
    )
  })
  await new Promise<void>((resolve) => server.listen(port, host, resolve))
  return server
}

/** Starts the service with an already-loaded configuration; resolves once it listens. */
export async function startServer (config: Config, options: StartOptions = {}): Promise<App> {
  const logger = createLogger(config.server.logLevel, { pretty: options.pretty === true })
  const metrics = new Metrics()
  const app = await buildApp(config, { logger, metrics })
  const onClose = options.onClose
  if (onClose !== undefined) app.addHook('onClose', async () => { await onClose() })
  const metricsServer = config.server.metricsPort === undefined ? undefined : await startMetricsServer(metrics, config.server.host, config.server.metricsPort)

  const { shutdownDelayMs, shutdownGraceMs } = config.server
  // close-with-grace exits 1 if closing takes longer than this; the grace itself bounds in-flight work.
  closeWithGrace({ delay: shutdownDelayMs + shutdownGraceMs + 2_000, logger }, async ({ signal, err }) => {
    if (err !== undefined) logger.error({ err }, 'fatal error, closing')
    else logger.info({ signal, shutdownDelayMs }, 'shutting down: readiness fails now')
    app.readiness.beginShutdown()
    if (err === undefined && shutdownDelayMs > 0) await sleep(shutdownDelayMs)
    metricsServer?.close()
    const closing = app.close()
    // In-flight requests get SHUTDOWN_GRACE_MS; after that their connections are cut.
    const timer = setTimeout(() => {
      // One line for the cut, at warn: the requests it ends log nothing more (see the error handler).
      app.server.getConnections((_err, open) => {
        if (open > 0) logger.warn({ connections: open, shutdownGraceMs }, 'shutdown grace over: cutting the connections still open')
        app.server.closeAllConnections()
      })
    }, shutdownGraceMs)
    timer.unref()
    await closing
    clearTimeout(timer)
    logger.info('closed')
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
