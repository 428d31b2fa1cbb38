/**
 * Regression: every broker-level test ran the emulator lenient (any timestamp, reused nonces,
 * uppercase hex), so a signing regression in the broker would still have passed CI. The emulator
 * the broker's tests start (test/helpers) now signs strictly; these are the regressions it catches.
 */
import { request } from 'undici'
import t from 'tap'
import { sign } from '../../src/emulator/signature.ts'
import { emulatorFor, ISSUE } from '../helpers/broker.ts'
import { emulator as nexconnEmulator } from '../nexconn/helpers.ts'

async function issueWith (url: string, headers: Record<string, string>): Promise<number> {
  const res = await request(`${url}${ISSUE}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify({ userId: 'sig1', name: 'S' }) })
  const body = await res.body.json() as { code: number }
  return body.code
}

for (const [name, start] of [['the broker tests\' emulator', emulatorFor], ['the Nexconn client tests\' emulator', nexconnEmulator]] as const) {
  t.test(`${name} refuses what a signing regression would send`, async (t) => {
    const emulator = await start(t)
    const url = emulator.urls[0] ?? ''
    const signed = (nonce: string, timestamp: string, transform: (hex: string) => string = (hex) => hex): Record<string, string> =>
      ({ 'App-Key': emulator.appKey, Nonce: nonce, Timestamp: timestamp, Signature: transform(sign(emulator.appSecret, nonce, timestamp)) })
    const now = String(Date.now())
    t.equal(await issueWith(url, signed('111', now)), 0, 'a correct request is served')
    t.equal(await issueWith(url, signed('111', now)), 1004, 'a reused nonce is refused')
    t.equal(await issueWith(url, signed('222', String(Math.floor(Date.now() / 1000)))), 1004, 'a timestamp in seconds is refused')
    t.equal(await issueWith(url, signed('333', String(Date.now() - 10 * 60_000))), 1004, 'a stale timestamp is refused')
    t.equal(await issueWith(url, signed('444', now, (hex) => hex.toUpperCase())), 1004, 'uppercase hex is refused')
  })
}
