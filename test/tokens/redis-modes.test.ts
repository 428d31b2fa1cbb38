import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { spawn } from 'node:child_process'
import { setTimeout as sleep } from 'node:timers/promises'
import { Cluster, Redis, type RedisOptions } from 'ioredis'
import { request } from 'undici'
import t from 'tap'
import { bearer, brokerEnv, brokerFor, emulatorFor, issueCalls, jwtFor } from '../helpers/broker.ts'
import { startBrokerProcess } from '../helpers/process.ts'
import { freePort, startCluster, startRedis, startSentinel, waitFor } from '../helpers/redis.ts'

/** Waits until the Redis server under test answers with these options; then makes clients with them. */
async function clientOnceAnswering (options: RedisOptions): Promise<() => Redis> {
  const probe = (): Redis => {
    const client = new Redis({ host: 'localhost', lazyConnect: true, retryStrategy: () => null, ...options })
    client.on('error', () => {})
    return client
  }
  await waitFor(async () => {
    const client = probe()
    try { await client.connect(); return await client.ping() === 'PONG' } catch { return false } finally { client.disconnect() }
  }, 10_000, 100)
  return probe
}

t.test('Redis Sentinel: the broker finds the master through the Sentinel', async (t) => {
  const master = await startRedis(t)
  const sentinel = await startSentinel(t, master)
  const emulator = await emulatorFor(t)
  const env = brokerEnv(emulator, { REDIS_SENTINELS: `127.0.0.1:${sentinel.port}`, REDIS_SENTINEL_NAME: 'mymaster' })
  const a = await brokerFor(t, env)
  const b = await brokerFor(t, env)
  await waitFor(async () => (await a.app.inject({ method: 'GET', url: '/readyz' })).json().components.redis === 'ok')
  const first = (await a.app.inject({ method: 'POST', url: '/v1/token', headers: bearer('sentinel1') })).json().token
  const second = (await b.app.inject({ method: 'POST', url: '/v1/token', headers: bearer('sentinel1') })).json().token
  t.equal(second, first, 'shared through the master')
  t.equal(issueCalls(emulator), 1)
  const client = new Redis(master.url)
  t.teardown(() => { client.disconnect() })
  t.equal((await client.keys('ctb:*:t')).length, 1, 'stored on the master')
})

t.test('Redis Cluster: one user\'s keys share a slot; tokens are shared and revoked', async (t) => {
  const nodes = await startCluster(t)
  const emulator = await emulatorFor(t)
  const adminKey = 'c'.repeat(40)
  const env = brokerEnv(emulator, { REDIS_CLUSTER_NODES: nodes.map((n) => `127.0.0.1:${n.port}`).join(','), ADMIN_API_KEY: adminKey })
  const a = await brokerFor(t, env)
  const b = await brokerFor(t, env)
  await waitFor(async () => (await a.app.inject({ method: 'GET', url: '/readyz' })).json().components.redis === 'ok', 10_000)

  const users = ['c1', 'c2', 'c3', 'c4', 'c5', 'c6']
  const tokens = await Promise.all(users.map(async (u) => (await a.app.inject({ method: 'POST', url: '/v1/token', headers: bearer(u) })).json().token as string))
  const again = await Promise.all(users.map(async (u) => (await b.app.inject({ method: 'POST', url: '/v1/token', headers: bearer(u) })).json().token as string))
  t.same(again, tokens, 'the second replica read every token from the cluster')
  t.equal(issueCalls(emulator), users.length)

  const cluster = new Cluster(nodes.map((n) => ({ host: '127.0.0.1', port: n.port })))
  t.teardown(() => { cluster.disconnect() })
  await new Promise((resolve) => cluster.once('ready', resolve))
  const perNode = await Promise.all(cluster.nodes('master').map(async (node) => (await node.keys('ctb:*:t')).length))
  t.equal(perNode.reduce((x, y) => x + y, 0), users.length)
  t.ok(perNode.filter((n) => n > 0).length >= 2, 'users are spread over several nodes')

  // A revoke writes the cutoff and deletes the token in one script: it works only within one slot.
  const revoke = await b.app.inject({ method: 'POST', url: '/v1/admin/revoke', headers: { authorization: `Bearer ${adminKey}` }, payload: { userIds: ['c1'] } })
  t.equal(revoke.statusCode, 200)
  const fresh = (await a.app.inject({ method: 'POST', url: '/v1/token', headers: bearer('c1') })).json().token
  t.not(fresh, tokens[0])
  t.equal(emulator.tokenStatus(fresh).valid, true)
})

t.test('rediss:// — TLS to Redis with a private CA', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ctb-tls-'))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  const openssl = (...args: string[]): void => { execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' }) }
  openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '1', '-subj', '/CN=ctb-test-ca')
  openssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=localhost')
  readFileSync(join(dir, 'server.csr'))
  const { writeFileSync } = await import('node:fs')
  writeFileSync(join(dir, 'san.ext'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\n')
  openssl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.pem', '-days', '1', '-extfile', 'san.ext')

  const port = await freePort()
  const server = spawn('redis-server', ['--port', '0', '--tls-port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
    '--tls-cert-file', join(dir, 'server.pem'), '--tls-key-file', join(dir, 'server.key'), '--tls-ca-cert-file', join(dir, 'ca.pem'), '--tls-auth-clients', 'no', '--dir', dir], { stdio: 'ignore' })
  t.teardown(async () => {
    const exited = new Promise((resolve) => server.once('exit', resolve))
    server.kill('SIGKILL')
    await exited
  })
  const ca = readFileSync(join(dir, 'ca.pem'))
  const probe = await clientOnceAnswering({ port, tls: { ca } })

  const emulator = await emulatorFor(t)
  // Node trusts the private CA only through NODE_EXTRA_CA_CERTS, read at process start.
  const broker = await startBrokerProcess(t, { ...brokerEnv(emulator, { REDIS_URL: `rediss://localhost:${port}`, LOG_LEVEL: 'warn' }), NODE_EXTRA_CA_CERTS: join(dir, 'ca.pem') })
  await waitFor(async () => {
    const res = await request(`${broker.url}/readyz`)
    return (await res.body.json() as { components: { redis: string } }).components.redis === 'ok'
  }, 10_000, 100)
  const jwt = jwtFor('tls1')
  const first = await request(`${broker.url}/v1/token`, { method: 'POST', headers: { authorization: `Bearer ${jwt}` } })
  t.equal(first.statusCode, 200)
  await first.body.dump()
  await sleep(50)
  const client = probe()
  t.teardown(() => { client.disconnect() })
  await client.connect()
  t.equal((await client.keys('ctb:*:t')).length, 1, 'the token was stored over TLS')
})

t.test('managed-Redis settings: ACL user, password file, private CA and client certificate', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ctb-mtls-'))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  const openssl = (...args: string[]): void => { execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' }) }
  const { writeFileSync } = await import('node:fs')
  openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '1', '-subj', '/CN=ctb-test-ca')
  writeFileSync(join(dir, 'san.ext'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\n')
  for (const name of ['server', 'client']) {
    openssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name === 'server' ? 'localhost' : 'broker'}`)
    openssl('x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.pem`, '-days', '1', '-extfile', 'san.ext')
  }
  writeFileSync(join(dir, 'password'), 'acl-password-canary\n')

  const port = await freePort()
  // The default user is off: only the ACL user gets in, and only with a client certificate.
  const server = spawn('redis-server', ['--port', '0', '--tls-port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
    '--tls-cert-file', join(dir, 'server.pem'), '--tls-key-file', join(dir, 'server.key'), '--tls-ca-cert-file', join(dir, 'ca.pem'), '--tls-auth-clients', 'yes',
    '--user', 'default', 'off', '--user', 'broker', 'on', '>acl-password-canary', '~*', '&*', '+@all', '--dir', dir], { stdio: 'ignore' })
  t.teardown(async () => {
    const exited = new Promise((resolve) => server.once('exit', resolve))
    server.kill('SIGKILL')
    await exited
  })
  const tls = { ca: readFileSync(join(dir, 'ca.pem')), cert: readFileSync(join(dir, 'client.pem')), key: readFileSync(join(dir, 'client.key')) }
  const probe = await clientOnceAnswering({ port, tls, username: 'broker', password: 'acl-password-canary' })

  const emulator = await emulatorFor(t)
  const broker = await brokerFor(t, brokerEnv(emulator, {
    REDIS_URL: `redis://localhost:${port}`,
    REDIS_USERNAME: 'broker',
    REDIS_PASSWORD_FILE: join(dir, 'password'),
    REDIS_TLS_CA_FILE: join(dir, 'ca.pem'),
    REDIS_TLS_CERT_FILE: join(dir, 'client.pem'),
    REDIS_TLS_KEY_FILE: join(dir, 'client.key')
  }))
  await waitFor(async () => (await broker.app.inject({ method: 'GET', url: '/readyz' })).json().components.redis === 'ok', 10_000, 100)
  const res = await broker.app.inject({ method: 'POST', url: '/v1/token', headers: bearer('mtls1') })
  t.equal(res.statusCode, 200)
  const client = probe()
  t.teardown(() => { client.disconnect() })
  await client.connect()
  await waitFor(async () => (await client.keys('ctb:*:t')).length === 1, 2_000)
  t.pass('the token was stored through the ACL user over mutual TLS')
  t.notMatch(broker.logs.text, /acl-password-canary|PRIVATE KEY/, 'neither the password nor the key reached the logs')
})
