import { request } from 'undici'
import t from 'tap'
import { bearer, brokerEnv, brokerFor, emulatorFor, ISSUE } from '../helpers/broker.ts'
import { startBrokerProcess } from '../helpers/process.ts'
import { freePort } from '../helpers/redis.ts'

t.test('metrics: the documented series, with no user id in any label', async (t) => {
  const emulator = await emulatorFor(t)
  const { app } = await brokerFor(t, brokerEnv(emulator))
  const users = ['metricsuser1', 'metricsuser2']
  for (const u of users) {
    await app.inject({ method: 'POST', url: '/v1/token', headers: bearer(u) })
    await app.inject({ method: 'POST', url: '/v1/token', headers: bearer(u) })
  }
  await app.inject({ method: 'POST', url: '/v1/token', headers: { authorization: 'Bearer x.y.z' } })
  emulator.addFault({ kind: 'status', status: 500, endpoint: ISSUE, port: 0, times: 1 })
  await app.inject({ method: 'POST', url: '/v1/token', headers: bearer('metricsuser3') })

  const res = await app.inject({ method: 'GET', url: '/metrics' })
  t.equal(res.statusCode, 200)
  t.match(res.headers['content-type'], /text\/plain/)
  const text = res.body
  for (const name of [
    'process_cpu_user_seconds_total', 'nodejs_eventloop_lag_seconds',
    'ctb_http_request_duration_seconds_bucket{le="0.005",method="POST",route="/v1/token",status_class="2xx"}',
    'ctb_token_requests_total{outcome="issued"} 3', 'ctb_token_requests_total{outcome="memory_hit"} 2', 'ctb_token_requests_total{outcome="error"} 1',
    'ctb_token_errors_total{code="invalid_token"} 1',
    'ctb_nexconn_call_duration_seconds_count{endpoint="/v4/auth/access-token/issue"',
    'outcome="business_error",business_code="1000"', 'ctb_nexconn_quota_wait_seconds', 'ctb_jwt_verifications_total{outcome="ok"}',
    'ctb_cache_decrypt_failures_total 0', 'ctb_nexconn_domain_healthy'
  ]) t.ok(text.includes(name), `has ${name}`)
  for (const u of [...users, 'metricsuser3']) t.notOk(text.includes(u), 'no user id in metrics')
  const labelValues = [...text.matchAll(/="([^"]*)"/g)].map((m) => m[1])
  t.ok(labelValues.every((v) => (v?.length ?? 0) <= 60), 'label values are short, bounded strings')
})

t.test('METRICS_PORT moves /metrics off the API port', async (t) => {
  const emulator = await emulatorFor(t)
  const metricsPort = await freePort()
  const broker = await startBrokerProcess(t, brokerEnv(emulator, { METRICS_PORT: String(metricsPort), LOG_LEVEL: 'warn' }))
  const onApi = await request(`${broker.url}/metrics`)
  t.equal(onApi.statusCode, 404)
  await onApi.body.dump()
  const separate = await request(`http://127.0.0.1:${metricsPort}/metrics`)
  t.equal(separate.statusCode, 200)
  t.match(await separate.body.text(), /ctb_http_request_duration_seconds/)
})
