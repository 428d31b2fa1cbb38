/**
 * Regression: in the Cluster-mode runs of CI, test files that passed every case now and then never
 * exited (tap's 120 s per-file timeout). ioredis's own periodic slots refresh arms its next round
 * from the callback of the previous one, even when `disconnect()` came while that refresh was in
 * flight: a closed Cluster client went on refreshing an empty pool every 5 s, for good, and its
 * timer held the process. A refresh is in flight for as long as a node does not answer, so a
 * broker closed while Redis was slow or frozen kept running. Here a process connects as the
 * broker does, Redis freezes across the 5 s refresh, the process closes its connection mid-refresh
 * and has nothing left to do: it must exit.
 */
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import t from 'tap'
import { ROOT } from '../deploy/helpers.ts'
import { startOneNodeCluster } from '../helpers/redis.ts'

const CLIENT = new URL('../../src/redis/client.ts', import.meta.url).href

t.test('a Cluster connection closed while a slots refresh waits on a frozen node leaves nothing running', async (t) => {
  const redis = await startOneNodeCluster(t) // killed at the end, thawed first if need be
  const script = `
    import { setTimeout as sleep } from 'node:timers/promises'
    import { pino } from 'pino'
    import { connectRedis } from ${JSON.stringify(CLIENT)}
    const connection = connectRedis({ mode: 'cluster', nodes: [{ host: '127.0.0.1', port: ${redis.port} }] }, pino({ level: 'silent' }))
    if (!await connection.waitReady(5_000)) process.exit(2)
    while (connection.reader.status !== 'ready') await sleep(10)
    console.log('ready')
    // Redis is frozen now. The refresh due 5 s after connecting waits on it: on the log reader's
    // connection (the longer command timeout) until the slots refresh timeout, 2 s later.
    await sleep(6_000)
    await connection.close()
    console.log('closed')
  `
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] })
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>
  t.teardown(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL') })
  let output = ''
  const closed = new Promise<void>((resolve) => {
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString()
      if (output.includes('ready') && !output.includes('closed')) redis.freeze()
      if (output.includes('closed')) { redis.thaw(); resolve() }
    })
  })
  await Promise.race([closed, exited])
  t.match(output, /ready\nclosed/, 'connected, then closed while Redis was frozen')

  // Left to itself, a refresher still waiting on the node gives up after its 2 s timeout.
  const limit = setTimeout(() => { child.kill('SIGKILL') }, 10_000)
  const [code, signal] = await exited
  clearTimeout(limit)
  t.same({ code, signal }, { code: 0, signal: null }, 'the process exited by itself once its connection was closed')
})
