/** Response bodies are capped at 64 KiB while streaming: an oversized or endless answer is an error, not a memory problem. */
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import t from 'tap'
import { pino } from 'pino'
import { createNexconnClient } from '../../src/nexconn/index.ts'
import { fixedServer, nexconnConfig, rejection } from './helpers.ts'

const env = { NEXCONN_TIMEOUT_MS: '2000', NEXCONN_DEADLINE_MS: '4000' }

function nexconnFor (t: { teardown: (fn: () => unknown) => void }, urls: string[]): ReturnType<typeof createNexconnClient> {
  const nexconn = createNexconnClient(nexconnConfig(urls, 'key', 'secret', env), { logger: pino({ level: 'silent' }), tuning: { maxAttempts: 1 } })
  t.teardown(() => nexconn.close())
  return nexconn
}

t.test('100 KiB with a Content-Length → invalid_response', async (t) => {
  const big = JSON.stringify({ code: 0, result: { userId: 'u1', accessToken: 'a'.repeat(100 * 1024) } })
  const server = await fixedServer(t, 200, big)
  const err = await rejection(nexconnFor(t, [server.url]).issueToken({ userId: 'u1', name: 'U' }))
  t.match(err, { name: 'NexconnError', reason: 'invalid_response' })
})

t.test('an endless chunked body is cut off at the cap', async (t) => {
  let written = 0
  let closed = false
  const server = createServer((req, res) => {
    req.resume()
    res.writeHead(200, { 'content-type': 'application/json' })
    const chunk = Buffer.alloc(16 * 1024, 0x61)
    const pump = (): void => {
      while (!res.destroyed && written < 64 * 1024 * 1024) {
        written += chunk.length
        if (!res.write(chunk)) { res.once('drain', pump); return }
      }
    }
    res.on('close', () => { closed = true })
    res.write('{"code":0,"result":{"userId":"u1","accessToken":"')
    pump()
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => { resolve() }) }))
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  const before = process.memoryUsage().rss
  const err = await rejection(nexconnFor(t, [url]).issueToken({ userId: 'u1', name: 'U' }))
  t.match(err, { reason: 'invalid_response' })
  await new Promise((resolve) => setTimeout(resolve, 50))
  t.ok(closed, 'the connection was dropped')
  t.ok(written < 64 * 1024 * 1024, `the server could not push its 64 MiB (${Math.round(written / 1024)} KiB written)`)
  t.ok(process.memoryUsage().rss - before < 48 * 1024 * 1024, 'memory did not grow with the body')
})

t.test('an oversized answer from the primary fails over to the backup', async (t) => {
  const big = await fixedServer(t, 200, 'x'.repeat(100 * 1024))
  const good = await fixedServer(t, 200, JSON.stringify({ code: 0, result: { userId: 'u1', accessToken: 'tok' } }))
  const nexconn = createNexconnClient(nexconnConfig([big.url, good.url], 'key', 'secret', env), { logger: pino({ level: 'silent' }) })
  t.teardown(() => nexconn.close())
  t.same(await nexconn.issueToken({ userId: 'u1', name: 'U' }), { userId: 'u1', token: 'tok' })
  t.equal(big.hits(), 1)
})
