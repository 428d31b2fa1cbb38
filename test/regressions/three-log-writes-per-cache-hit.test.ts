/**
 * Regression: a cache hit wrote three log lines at the default level `info` (Fastify's "incoming
 * request" and "request completed", and the broker's own "token served"), each a synchronous write
 * to stdout, and every request built a pino child logger even when it wrote nothing. Now a request
 * writes one line when its answer is sent, and a pino child exists only for a request that logs.
 */
import { pino } from 'pino'
import t from 'tap'
import { buildApp } from '../../src/app.ts'
import { loadConfig } from '../../src/config.ts'
import { loggerOptions } from '../../src/logger.ts'
import { bearer, brokerEnv, emulatorFor, LogCapture } from '../helpers/broker.ts'

async function brokerCountingChildren (t: { teardown: (fn: () => unknown) => void }, level: string): Promise<{ inject: (n: number) => Promise<number[]>, logs: LogCapture, children: () => number }> {
  const emulator = await emulatorFor(t)
  const config = loadConfig(brokerEnv(emulator, { LOG_LEVEL: level }))
  const logs = new LogCapture()
  const logger = pino(loggerOptions(config.server.logLevel), logs)
  let children = 0
  const child = logger.child.bind(logger)
  logger.child = ((...args: Parameters<typeof child>) => { children++; return child(...args) }) as typeof logger.child
  const app = await buildApp(config, { logger })
  t.teardown(async () => { await app.close() })
  await app.ready()
  const inject = async (n: number): Promise<number[]> => {
    const statuses: number[] = []
    for (let i = 0; i < n; i++) statuses.push((await app.inject({ method: 'POST', url: '/v1/token', headers: bearer('logline1') })).statusCode)
    return statuses
  }
  return { inject, logs, children: () => children }
}

t.test('at info: one line per request, with its request id, route, status and outcome', async (t) => {
  const { inject, logs } = await brokerCountingChildren(t, 'info')
  await inject(1) // issued
  const before = logs.lines.length
  t.same(await inject(5), [200, 200, 200, 200, 200])
  const lines = logs.records().slice(before)
  t.equal(lines.length, 5, 'five cache hits, five lines')
  for (const line of lines) {
    t.equal(line.msg, 'request completed')
    t.equal(line.outcome, 'memory_hit')
    t.match(line, { req: { method: 'POST', route: '/v1/token' }, res: { statusCode: 200 } })
    t.type(line.requestId, 'string')
  }
})

t.test('below info: no line, and no pino child logger built per request', async (t) => {
  const { inject, logs, children } = await brokerCountingChildren(t, 'warn')
  await inject(1)
  const childrenBefore = children()
  const linesBefore = logs.lines.length
  t.same(await inject(20), Array(20).fill(200))
  t.equal(logs.lines.length, linesBefore, 'nothing written')
  t.equal(children() - childrenBefore, 0, 'no child logger for requests that write nothing')
})
