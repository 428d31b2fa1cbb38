/** 401 from the real broker: one retry with a fresh app JWT, then the app's sign-in. */
import { createSigner } from 'fast-jwt'
import t from 'tap'
import { createTokenProvider, TokenProviderError } from '../../client/src/index.ts'
import { jwtFor } from '../helpers/broker.ts'
import { liveBroker, rejection } from './helpers.ts'

t.test('401 invalid_token (the app\'s JWT expired): one retry with getAppJwt({ forceRefresh: true }), and the token', async (t) => {
  const broker = await liveBroker(t)
  const asked: boolean[] = []
  const signIns: unknown[] = []
  const provider = createTokenProvider({
    brokerUrl: broker.url,
    getAppJwt: ({ forceRefresh }) => {
      asked.push(forceRefresh)
      return forceRefresh ? jwtFor('reauth1') : jwtFor('reauth1', { exp: Math.floor(Date.now() / 1000) - 3600 })
    },
    onSignInRequired: (error) => { signIns.push(error) }
  })
  const token = await provider.getToken()
  t.same(asked, [false, true])
  t.same(broker.requests.map((r) => r.status), [401, 200])
  t.same(signIns, [], 'no sign-in needed')
  t.same(broker.emulator.tokenStatus(token.token), { valid: true, userId: 'reauth1' })
})

t.test('401 again with the fresh JWT: onSignInRequired once, the error typed invalid_token, no third request', async (t) => {
  const broker = await liveBroker(t)
  const forged = createSigner({ key: 'another-secret-that-is-long-enough-for-hs256', algorithm: 'HS256', expiresIn: 3_600_000 })({ sub: 'reauth2' })
  const signIns: TokenProviderError[] = []
  const provider = createTokenProvider({ brokerUrl: broker.url, getAppJwt: () => forged, onSignInRequired: (error) => { signIns.push(error) } })

  const error = await rejection(provider.getToken())
  t.ok(error instanceof TokenProviderError)
  t.match(error, { code: 'invalid_token', status: 401 })
  t.match((error as TokenProviderError).message, /signature/i, 'the broker\'s detail, safe to show')
  t.notMatch((error as TokenProviderError).message, forged, 'never the JWT')
  t.same(broker.requests.map((r) => r.status), [401, 401])
  t.equal(signIns.length, 1)
  t.equal(signIns[0], error, 'onSignInRequired got the same error')
  t.equal(provider.state.status, 'signed_out')
})

t.test('no app JWT (nobody signed in): missing_token and onSignInRequired, without a broker request', async (t) => {
  const broker = await liveBroker(t)
  const asked: boolean[] = []
  let signIns = 0
  const provider = createTokenProvider({ brokerUrl: broker.url, getAppJwt: ({ forceRefresh }) => { asked.push(forceRefresh); return null }, onSignInRequired: () => { signIns++ } })
  t.match(await rejection(provider.getToken()), { code: 'missing_token', status: undefined })
  t.same(asked, [false, true], 'asked once more with forceRefresh (a session may be restorable)')
  t.equal(signIns, 1)
  t.equal(broker.requests.length, 0)
})

t.test('getAppJwt throws: app_jwt_error with the cause, no broker request, no sign-in', async (t) => {
  const broker = await liveBroker(t)
  const cause = new Error('identity provider offline')
  let signIns = 0
  const provider = createTokenProvider({ brokerUrl: broker.url, getAppJwt: async () => await Promise.reject(cause), onSignInRequired: () => { signIns++ } })
  const error = await rejection(provider.getToken())
  t.match(error, { code: 'app_jwt_error' })
  t.equal((error as Error).cause, cause)
  t.equal(signIns, 0)
  t.equal(broker.requests.length, 0)
  t.equal(provider.state.status, 'error')
})
