/** Calls that succeed or are refused: what reaches Nexconn, and what comes back. */
import t from 'tap'
import { pino } from 'pino'
import { NexconnError } from '../../src/errors.ts'
import { sign } from '../../src/emulator/signature.ts'
import { createNexconnClient } from '../../src/nexconn/index.ts'
import { capturingLogger, client, emulator, EXPIRE, fixedServer, ISSUE, nexconnConfig, rejection, USER_UPDATE } from './helpers.ts'

t.test('issueToken: a real token, signed headers as documented, X-Request-ID propagated', async (t) => {
  const emu = await emulator(t)
  const nexconn = client(t, emu)
  const result = await nexconn.issueToken({ userId: 'alice1', name: 'Alice', avatarUrl: 'https://example.com/a.png' }, { requestId: 'req-0123456789' })
  t.equal(result.userId, 'alice1')
  t.equal(emu.tokenStatus(result.token).valid, true, 'the emulator issued it')
  t.same(emu.user('alice1'), { name: 'Alice', avatarUrl: 'https://example.com/a.png', createdAt: emu.user('alice1')?.createdAt })

  const [req] = emu.requests()
  if (req === undefined) throw new Error('no request recorded')
  t.equal(req.method, 'POST')
  t.equal(req.path, ISSUE)
  t.equal(req.port, 0, 'the primary')
  const h = req.headers
  t.equal(h['app-key'], emu.appKey)
  t.match(h.nonce, /^\d{1,18}$/)
  t.match(h.timestamp, /^\d{13}$/)
  t.ok(Math.abs(Number(h.timestamp) - Date.now()) < 60_000, 'a current ms timestamp')
  t.equal(h.signature, sign(emu.appSecret, h.nonce ?? '', h.timestamp ?? ''))
  t.match(h['content-type'], /^application\/json/)
  t.equal(h.accept, 'application/json')
  t.match(h['user-agent'], /^chat-token-broker\/\d+\.\d+\.\d+/)
  t.equal(h['x-request-id'], 'req-0123456789')
  t.same(JSON.parse(req.body), { userId: 'alice1', name: 'Alice', avatarUrl: 'https://example.com/a.png' })
  t.same(nexconn.health(), { status: 'ok', domains: [{ url: emu.urls[0], state: 'healthy' }, { url: emu.urls[1], state: 'healthy' }] })
})

t.test('a request id is generated when absent and cut to 36 characters when too long', async (t) => {
  const emu = await emulator(t)
  const nexconn = client(t, emu)
  await nexconn.issueToken({ userId: 'bob', name: 'Bob' })
  await nexconn.issueToken({ userId: 'bob', name: 'Bob' }, { requestId: 'r'.repeat(80) })
  const [first, second] = emu.requests()
  t.match(first?.headers['x-request-id'], /^[0-9a-f-]{36}$/)
  t.equal(second?.headers['x-request-id'], 'r'.repeat(36))
})

t.test('the legacy response shape {code:200,userId,token} is accepted', async (t) => {
  const legacy = await fixedServer(t, 200, JSON.stringify({ code: 200, userId: 'jlk456j5', token: 'Abc+/def==' }))
  const nexconn = createNexconnClient(nexconnConfig([legacy.url], 'key', 'secret'), { logger: pino({ level: 'silent' }) })
  t.teardown(() => nexconn.close())
  t.same(await nexconn.issueToken({ userId: 'jlk456j5', name: 'J' }), { userId: 'jlk456j5', token: 'Abc+/def==' })
})

t.test('a legacy-style business error with HTTP 200 is classified by its code', async (t) => {
  const emu = await emulator(t, { errorsWithHttp200: true })
  const nexconn = client(t, emu)
  emu.addFault({ kind: 'business_error', code: 2007, times: 1 })
  const err = await nexconn.issueToken({ userId: 'carol', name: 'Carol' }).catch((e: unknown) => e)
  t.ok(err instanceof NexconnError)
  t.match(err, { reason: 'user_limit', businessCode: 2007, httpStatus: 200 })
})

t.test('a 4xx business error is not retried and reaches the caller classified', async (t) => {
  const emu = await emulator(t)
  const nexconn = client(t, emu)
  const err = await nexconn.issueToken({ userId: 'bad-id!', name: 'X' }).catch((e: unknown) => e)
  t.match(err, { name: 'NexconnError', reason: 'bad_parameter', businessCode: 1002, httpStatus: 400 })
  t.equal(emu.stats().calls[ISSUE], 1, 'exactly one call reached Nexconn')
  t.same(nexconn.health().domains.map((d) => d.state), ['healthy', 'healthy'], 'a refusal is no domain failure')
})

t.test('wrong credentials: `credentials`, not retried, one error log line per state change, no secret logged', async (t) => {
  const emu = await emulator(t)
  const log = capturingLogger()
  const config = nexconnConfig(emu.urls, emu.appKey, 'not-the-secret')
  const nexconn = createNexconnClient(config, { logger: log.logger })
  t.teardown(() => nexconn.close())
  for (let i = 0; i < 3; i++) {
    const err = await nexconn.issueToken({ userId: 'dave', name: 'Dave' }).catch((e: unknown) => e)
    t.match(err, { reason: 'credentials', businessCode: 1004, httpStatus: 401 })
  }
  t.equal(emu.stats().calls[ISSUE], 3, 'one call each')
  t.equal(log.lines.filter((l) => l.level === 50).length, 1, 'logged at error level once')
  t.equal(nexconn.health().status, 'degraded')
  t.notMatch(log.text(), /not-the-secret/)
  t.notMatch(log.text(), /signature verification failed/, 'no upstream message in the log')
})

t.test('errors never carry upstream bodies, tokens or secrets in their message', async (t) => {
  const emu = await emulator(t)
  const nexconn = client(t, emu)
  emu.addFault({ kind: 'business_error', code: 1002, times: 1 })
  const err = await nexconn.issueToken({ userId: 'erin', name: 'Erin' }).catch((e: unknown) => e) as Error
  t.notMatch(err.message, /injected/)
  t.notMatch(err.message, emu.appSecret)
})

t.test('local input checks fail before any call', async (t) => {
  const emu = await emulator(t)
  const nexconn = client(t, emu)
  t.match(await rejection(nexconn.issueToken({ userId: '', name: 'X' })), { reason: 'bad_parameter' })
  t.match(await rejection(nexconn.issueToken({ userId: 'u'.repeat(65), name: 'X' })), { reason: 'bad_parameter' })
  t.match(await rejection(nexconn.issueToken({ userId: 'u1', name: '' })), { reason: 'bad_parameter' })
  t.match(await rejection(nexconn.expireTokens(['u1'], -1)), { reason: 'bad_parameter' })
  t.equal(emu.stats().calls[ISSUE], undefined)
})

t.test('expireTokens: batches of 20 (45 users → 3 calls), and the tokens are revoked', async (t) => {
  const emu = await emulator(t)
  const nexconn = client(t, emu)
  const userIds = Array.from({ length: 45 }, (_, i) => `user${i}`)
  const token = (await nexconn.issueToken({ userId: 'user44', name: 'Last' })).token
  await nexconn.expireTokens([...userIds, 'user0'], Date.now() + 1000)
  const calls = emu.requests().filter((r) => r.path === EXPIRE)
  t.equal(calls.length, 3)
  t.same(calls.map((r) => (JSON.parse(r.body) as { userIds: string[] }).userIds.length), [20, 20, 5])
  t.same(calls.map((r) => r.status), [200, 200, 200])
  t.type((JSON.parse(calls[0]?.body ?? '{}') as { expiresAt: unknown }).expiresAt, 'number')
  t.equal(emu.tokenStatus(token).valid, false, 'revoked')
  await nexconn.expireTokens([], Date.now())
  t.equal(emu.requests().filter((r) => r.path === EXPIRE).length, 3, 'nothing to do, no call')
})

t.test('updateUser', async (t) => {
  const emu = await emulator(t)
  const nexconn = client(t, emu)
  await nexconn.issueToken({ userId: 'frank', name: 'Frank' })
  await nexconn.updateUser({ userId: 'frank', name: 'Franky', avatarUrl: 'https://example.com/f.png' })
  t.match(emu.user('frank'), { name: 'Franky', avatarUrl: 'https://example.com/f.png' })
  t.equal(emu.stats().calls[USER_UPDATE], 1)
})

t.test('caller cancellation rejects with the caller\'s reason', async (t) => {
  const emu = await emulator(t)
  const nexconn = client(t, emu)
  emu.addFault({ kind: 'hang' })
  const controller = new AbortController()
  setTimeout(() => { controller.abort(new Error('client went away')) }, 100)
  await t.rejects(nexconn.issueToken({ userId: 'gina', name: 'Gina' }, { signal: controller.signal }), { message: 'client went away' })
})

t.test('hooks: one onAttempt per attempt with bounded labels; a throwing hook breaks nothing', async (t) => {
  const emu = await emulator(t)
  const attempts: unknown[] = []
  const waits: unknown[] = []
  const nexconn = client(t, emu, {
    deps: {
      hooks: {
        onAttempt: (e) => { attempts.push(e); throw new Error('hook bug') },
        onQuotaWait: (e) => { waits.push(e) }
      }
    }
  })
  emu.addFault({ kind: 'status', status: 500, port: 0, times: 1 })
  await nexconn.issueToken({ userId: 'hank', name: 'Hank' })
  t.match(attempts, [
    { endpoint: ISSUE, domain: emu.urls[0], outcome: 'business_error', businessCode: 1000, httpStatus: 500 },
    { endpoint: ISSUE, domain: emu.urls[1], outcome: 'ok', businessCode: 0, httpStatus: 200 }
  ])
  t.notMatch(JSON.stringify(attempts), /hank/, 'no user id in metric labels')
  t.match(waits, [{ endpoint: ISSUE, admitted: true }, { endpoint: ISSUE, admitted: true }])
})
