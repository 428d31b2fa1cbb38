/** Connection reuse within the documented limits: at most 80 requests per connection, a bounded pool per domain. */
import { createServer, type IncomingMessage } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import t, { type Test } from 'tap'
import { pino } from 'pino'
import { createNexconnClient } from '../../src/nexconn/index.ts'
import { nexconnConfig } from './helpers.ts'

interface IssueServer {
  url: string
  /** Requests being handled now, and the most at any moment. */
  inFlight: () => number
  peakInFlight: () => number
}

/**
 * A stand-in issue endpoint on loopback: `onIssue` gets each request's socket and a function that
 * answers it with a token (it may answer later); every response is counted out of flight.
 */
async function issueServer (t: Test, onIssue: (socket: Socket, answer: () => void) => void): Promise<IssueServer> {
  let inFlight = 0
  let peakInFlight = 0
  const server = createServer((req: IncomingMessage, res) => {
    inFlight++
    peakInFlight = Math.max(peakInFlight, inFlight)
    let body = ''
    req.on('data', (chunk: Buffer) => { body += chunk.toString() })
    req.on('end', () => {
      const { userId } = JSON.parse(body) as { userId: string }
      onIssue(req.socket, () => {
        inFlight--
        res.writeHead(200, { 'content-type': 'application/json' })
        res.end(JSON.stringify({ code: 0, result: { userId, accessToken: 'tok' } }))
      })
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => { resolve() }) }))
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, inFlight: () => inFlight, peakInFlight: () => peakInFlight }
}

t.test('at most 80 requests per connection, and no more connections than the pool allows', async (t) => {
  const perSocket = new Map<Socket, number>()
  const server = await issueServer(t, (socket, answer) => {
    perSocket.set(socket, (perSocket.get(socket) ?? 0) + 1)
    setTimeout(answer, 2)
  })
  const nexconn = createNexconnClient(nexconnConfig([server.url], 'key', 'secret'), { logger: pino({ level: 'silent' }), tuning: { connections: 4 } })
  t.teardown(() => nexconn.close())

  for (let i = 0; i < 200; i++) await nexconn.issueToken({ userId: `s${i}`, name: 'S' })
  await Promise.all(Array.from({ length: 100 }, async (_, i) => await nexconn.issueToken({ userId: `c${i}`, name: 'C' })))

  const counts = [...perSocket.values()]
  t.equal(counts.reduce((a, b) => a + b, 0), 300)
  t.ok(Math.max(...counts) <= 80, `no connection served more than 80 requests (max ${Math.max(...counts)})`)
  t.ok(counts.some((c) => c > 1), 'connections are kept alive and reused')
  t.ok(server.peakInFlight() <= 4, `at most 4 concurrent connections (peak ${server.peakInFlight()})`)
})

t.test('an admitted burst goes out at once: the default pool holds the quota\'s whole burst', async (t) => {
  // Answers nothing until the whole burst is in flight (or 5 s have passed): with a pool smaller
  // than the burst, the rest would queue behind held requests and the peak would stay at the pool size.
  const BURST = 200
  const held: Array<() => void> = []
  const releaseAll = (): void => { for (const answer of held.splice(0)) answer() }
  const server = await issueServer(t, (_socket, answer) => {
    held.push(answer)
    if (server.inFlight() >= BURST) releaseAll()
  })
  const fallback = setInterval(releaseAll, 5_000)
  t.teardown(() => { clearInterval(fallback) })
  const nexconn = createNexconnClient(nexconnConfig([server.url], 'key', 'secret', { NEXCONN_DEADLINE_MS: '10000' }), { logger: pino({ level: 'silent' }) })
  t.teardown(() => nexconn.close())

  const results = await Promise.allSettled(Array.from({ length: BURST }, async (_, i) => await nexconn.issueToken({ userId: `b${i}`, name: 'B' })))
  t.equal(results.filter((r) => r.status === 'fulfilled').length, BURST, 'every call answered')
  t.equal(server.peakInFlight(), BURST, `all ${BURST} admitted calls were in flight together (peak ${server.peakInFlight()})`)
})
