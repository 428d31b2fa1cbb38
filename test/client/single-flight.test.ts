import t from 'tap'
import { createTokenProvider, TokenProviderError, type TokenState } from '../../client/src/index.ts'
import { ISSUE, issueCalls, jwtFor } from '../helpers/broker.ts'
import { instantSleep, liveBroker, rejection } from './helpers.ts'

t.test('100 concurrent getToken() calls: one broker request, one token, then served from memory', async (t) => {
  const broker = await liveBroker(t)
  // A slow Nexconn keeps the request open while every caller arrives.
  broker.emulator.addFault({ kind: 'latency', ms: 150, endpoint: ISSUE })
  let jwtCalls = 0
  const provider = createTokenProvider({ brokerUrl: broker.url, getAppJwt: () => { jwtCalls++; return jwtFor('flight1') } })

  const tokens = await Promise.all(Array.from({ length: 100 }, async () => await provider.getToken()))
  t.equal(broker.requests.length, 1, 'one request reached the broker')
  t.equal(jwtCalls, 1, 'the app JWT was asked for once')
  t.equal(new Set(tokens.map((token) => token.token)).size, 1, 'every caller got the same token')
  const [token] = tokens
  t.same(broker.emulator.tokenStatus(token?.token ?? ''), { valid: true, userId: 'flight1' }, 'a token Nexconn accepts')
  t.equal(token?.appKey, broker.emulator.appKey, 'with the App Key for the SDK\'s init')

  const again = await Promise.all(Array.from({ length: 100 }, async () => await provider.getToken()))
  t.equal(broker.requests.length, 1, 'the next 100 calls are answered from memory')
  t.same(again[0], token)
  t.equal(issueCalls(broker.emulator), 1)
})

t.test('a failing request is shared too: 20 callers, one request, one typed error; 502 upstream_rejected is not retried', async (t) => {
  const broker = await liveBroker(t)
  // 1001: Nexconn refuses the broker's App Key — an operator must act, retrying cannot help.
  broker.emulator.addFault({ kind: 'business_error', code: 1001, endpoint: ISSUE })
  const { waits, sleep } = instantSleep()
  const provider = createTokenProvider({ brokerUrl: broker.url, getAppJwt: () => jwtFor('flight2'), sleep })
  const states: Array<TokenState['status']> = []
  provider.subscribe((state) => { states.push(state.status) })

  const results = await Promise.allSettled(Array.from({ length: 20 }, async () => await provider.getToken()))
  t.equal(broker.requests.length, 1)
  t.same(broker.requests.map((r) => r.status), [502])
  t.same(waits, [], 'no wait, no retry')
  const errors = results.map((r) => (r.status === 'rejected' ? r.reason as unknown : undefined))
  t.equal(new Set(errors).size, 1, 'one error, shared')
  const error = errors[0]
  t.ok(error instanceof TokenProviderError)
  t.match(error, { code: 'upstream_rejected', status: 502, retryAfterMs: undefined })
  t.match((error as TokenProviderError).requestId, /^[0-9a-f-]{36}$/, 'the broker\'s request id, to quote in a report')
  t.same(states, ['idle', 'fetching', 'error'])
})

t.test('clear() cancels the request under way: its callers get `aborted` and nothing is kept', async (t) => {
  const broker = await liveBroker(t)
  broker.emulator.addFault({ kind: 'latency', ms: 300, endpoint: ISSUE, times: 1 })
  const provider = createTokenProvider({ brokerUrl: broker.url, getAppJwt: () => jwtFor('flight3') })
  const pending = provider.getToken()
  await new Promise((resolve) => setTimeout(resolve, 50))
  provider.clear()
  t.match(await rejection(pending), { code: 'aborted' })
  t.equal(provider.state.status, 'idle')

  const token = await provider.getToken()
  t.equal(broker.emulator.tokenStatus(token.token).valid, true, 'the next call asks again')
})

t.test('options are checked up front', async (t) => {
  const getAppJwt = (): string => 'x'
  t.throws(() => createTokenProvider({ brokerUrl: 'chat-broker.example.com', getAppJwt }), /absolute http\(s\) URL/)
  t.throws(() => createTokenProvider({ brokerUrl: 'ftp://127.0.0.1', getAppJwt }), /http: or https:/)
  t.throws(() => createTokenProvider({ brokerUrl: 'http://127.0.0.1', getAppJwt, retry: { maxAttempts: 0 } }), /maxAttempts/)
  t.throws(() => createTokenProvider({ brokerUrl: 'http://127.0.0.1', getAppJwt, expiryMarginMs: -1 }), /expiryMarginMs/)
})
