/**
 * Regression: log redaction covered one level only (`*.token`): a top-level `token`, or a secret
 * two levels down, reached the log line in clear.
 */
import { Writable } from 'node:stream'
import { pino } from 'pino'
import t from 'tap'
import { censorSecrets, loggerOptions } from '../../src/logger.ts'

const CANARY = 'Canary-s3cr3t-7731'

function capture (): { logger: pino.Logger, text: () => string } {
  const lines: string[] = []
  const stream = new Writable({ write (chunk: Buffer, _encoding, done) { lines.push(chunk.toString()); done() } })
  return { logger: pino(loggerOptions('trace'), stream), text: () => lines.join('') }
}

t.test('secrets are censored at the top level, at any depth, in arrays, whatever the case of the key', async (t) => {
  const { logger, text } = capture()
  logger.info({ token: CANARY }, 'top level')
  logger.info({ a: { b: { accessToken: CANARY } } }, 'two levels down')
  logger.info({ list: [{ deep: [{ JWT: CANARY }] }] }, 'in arrays')
  logger.info({ headers: { Authorization: `Bearer ${CANARY}`, 'X-Api-Key': CANARY } }, 'headers')
  logger.child({ appSecret: CANARY }).info('in bindings too')
  logger.info({ claims: { sub: CANARY }, password: CANARY, refresh_token: CANARY }, 'more names')
  const out = text()
  t.notOk(out.includes(CANARY), 'the canary never reaches the log')
  t.equal(out.split('[redacted]').length - 1, 9, 'every secret replaced by the censor mark')
  t.match(out, /"msg":"two levels down"/, 'the lines themselves are kept')
})

t.test('objects without secrets are logged as they are, and not copied', async (t) => {
  const plain = { outcome: 'memory_hit', nested: { count: 3, list: [1, 2] } }
  t.equal(censorSecrets(plain), plain, 'same object: nothing allocated on the common path')
  const censored = censorSecrets({ keep: 1, inner: { token: 'x', keep: 2 } })
  t.same(censored, { keep: 1, inner: { token: '[redacted]', keep: 2 } })
})
