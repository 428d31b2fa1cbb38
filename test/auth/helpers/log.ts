import { Writable } from 'node:stream'
import pino, { type Logger } from 'pino'

/** A pino logger at `trace` whose output is kept in memory. */
export function captureLogger (): { logger: Logger, text: () => string } {
  const chunks: string[] = []
  const stream = new Writable({
    write (chunk: Buffer, _encoding, callback) {
      chunks.push(chunk.toString())
      callback()
    }
  })
  const logger = pino({ level: 'trace' }, stream)
  return { logger, text: () => chunks.join('') }
}

export function silentLogger (): Logger {
  return pino({ level: 'silent' })
}
