/**
 * (c) A rolling restart under steady load: each of three broker processes in turn gets SIGTERM
 * (as Kubernetes sends it), fails /readyz while it keeps serving for SHUTDOWN_DELAY_MS, so the
 * load balancer (here: the test's router, which follows /readyz every 100 ms) stops sending to it,
 * then exits; a new process takes its place. Not one request may fail.
 */
import { performance } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { brokerEnv, emulatorFor, ISSUE } from '../helpers/broker.ts'
import { percentile } from '../helpers/latency.ts'
import { startBrokerProcess } from '../helpers/process.ts'
import { startRedis, waitFor } from '../helpers/redis.ts'
import { Fleet, runLoad, tally } from './helpers/load.ts'

t.test('(c) rolling restart of 3 brokers under load (SIGTERM one at a time): zero failed requests', async (t) => {
  const server = await startRedis(t)
  const emulator = await emulatorFor(t)
  const env = { ...brokerEnv(emulator, { REDIS_URL: server.url, SHUTDOWN_DELAY_MS: '1000', SHUTDOWN_GRACE_MS: '5000' }), LOG_LEVEL: 'warn' }
  const fleet = new Fleet(await Promise.all([0, 1, 2].map(async () => await startBrokerProcess(t, env))))
  t.teardown(async () => { await fleet.close() })
  await waitFor(() => fleet.ready().length === 3, 10_000, 50)

  const load = runLoad(fleet, { durationMs: 16_000, concurrency: 8, ratePerS: 200, newUserShare: 0.2, timeoutMs: 8_000, prefix: 'roll' })
  const restarts: number[] = []
  await sleep(1_000)
  for (let i = 0; i < 3; i++) {
    const old = fleet.brokers[i]!
    const started = performance.now()
    old.kill('SIGTERM')
    t.equal(await old.exited, 0, `broker ${i} exited cleanly after SIGTERM`)
    const fresh = await startBrokerProcess(t, env)
    fleet.replace(i, fresh)
    await waitFor(() => fleet.ready().length === 3, 10_000, 50)
    restarts.push(performance.now() - started)
    await sleep(1_000)
  }
  const answers = await load

  const failed = answers.filter((a) => a.status !== 200)
  t.ok(answers.length > 500, `${answers.length} requests sent`)
  t.equal(failed.length, 0, `zero failed requests (${tally(answers)})`)
  const calls = emulator.stats().callsByUser
  const users = [...new Set(answers.filter((a) => a.status === 200).map((a) => a.user))]
  const notOnce = users.filter((u) => calls[u] !== 1)
  t.equal(notOnce.length, 0, `one Nexconn call per new user (${users.length} users)`)
  const ms = answers.map((a) => a.ms)
  t.comment(`rolling restart: ${answers.length} requests (${tally(answers)}), p50 ${percentile(ms, 50).toFixed(1)} ms, p99 ${percentile(ms, 99).toFixed(1)} ms, max ${Math.round(Math.max(...ms))} ms; ` +
    `${users.length} users, ${emulator.stats().calls[ISSUE] ?? 0} issue calls; each replica replaced in ${restarts.map((r) => Math.round(r)).join(', ')} ms`)
})
