/**
 * Regression: at shutdown the Nexconn client closed under requests still being answered (calls
 * between two attempts failed with "The Nexconn client is closed."), and a request that outlived
 * SHUTDOWN_GRACE_MS was cut and then logged at error level with a stack. Nothing checked that the
 * grace covers NEXCONN_DEADLINE_MS (config.test.ts covers that refusal).
 */
import { connect } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { bearer, brokerEnv, brokerFor, emulatorFor, jwtFor } from '../helpers/broker.ts'
import { startBrokerProcess } from '../helpers/process.ts'

t.test('a call between two attempts when the app closes still completes', async (t) => {
  const emulator = await emulatorFor(t)
  const { app } = await brokerFor(t, brokerEnv(emulator, { NEXCONN_TIMEOUT_MS: '300', NEXCONN_DEADLINE_MS: '2000', SHUTDOWN_GRACE_MS: '2000' }))
  emulator.addFault({ kind: 'hang', port: 0, times: 1 })
  const pending = app.inject({ method: 'POST', url: '/v1/token', headers: bearer('late1') })
  await sleep(100)
  const closing = app.close()
  const res = await pending
  await closing
  t.equal(res.statusCode, 200, 'answered from the backup domain, after close() began')
  t.equal(emulator.tokenStatus(res.json().token).valid, true)
})

t.test('a request cut at the end of the grace is reported once, at warn; nothing at error; exit 0', async (t) => {
  const emulator = await emulatorFor(t)
  const broker = await startBrokerProcess(t, brokerEnv(emulator, {
    LOG_LEVEL: 'info', NEXCONN_TIMEOUT_MS: '1000', NEXCONN_DEADLINE_MS: '1000', SHUTDOWN_GRACE_MS: '1500', SHUTDOWN_DELAY_MS: '0'
  }))
  const { port } = new URL(broker.url)
  // A client that sends its headers and part of its body, then stalls: still open when the grace ends.
  const socket = connect(Number(port), '127.0.0.1')
  socket.on('error', () => { /* the broker cuts it: expected */ })
  await new Promise<void>((resolve) => { socket.once('connect', resolve) })
  socket.write(`POST /v1/token HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${jwtFor('slow1')}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"forceR`)
  await sleep(300)
  broker.kill('SIGTERM')
  t.equal(await broker.exited, 0, 'exit code 0')
  socket.destroy()
  const records = broker.output().split('\n').filter((line) => line.startsWith('{')).map((line) => JSON.parse(line) as Record<string, unknown>)
  const cut = records.filter((r) => r.msg === 'shutdown grace over: cutting the connections still open')
  t.equal(cut.length, 1, 'one line for the cut')
  t.match(cut[0], { level: 40, connections: 1, shutdownGraceMs: 1500 }, 'at warn, with what was cut')
  t.same(records.filter((r) => (r.level as number) >= 50).map((r) => r.msg), [], 'nothing at error level')
})
