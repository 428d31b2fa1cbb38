import t from 'tap'
import { sign as referenceSign } from '../../src/emulator/signature.ts'
import { newNonce, requestIdFor, sign, signedHeaders } from '../../src/nexconn/signing.ts'

t.test('the documented test vector', async (t) => {
  t.equal(sign('Y1W2MeFwwwRxa0', '14314', '1408710653000'), '30be0bbca9c9b2e27578701e9fda2358a814c88f')
})

t.test('signed headers: fresh nonce of at most 18 characters, ms timestamp, lowercase hex matching the emulator', async (t) => {
  const now = 1_760_000_000_123
  const seen = new Set<string>()
  let wellFormed = true
  for (let i = 0; i < 1000; i++) {
    const headers = signedHeaders('key', 'secret', now)
    wellFormed &&= headers.Nonce.length <= 18 && /^\d+$/.test(headers.Nonce)
    seen.add(headers.Nonce)
    if (i === 0) {
      t.equal(headers['App-Key'], 'key')
      t.equal(headers.Timestamp, '1760000000123')
      t.match(headers.Signature, /^[0-9a-f]{40}$/)
      t.equal(headers.Signature, referenceSign('secret', headers.Nonce, headers.Timestamp))
    }
  }
  t.ok(wellFormed, 'every nonce: digits, at most 18')
  t.equal(seen.size, 1000, 'no nonce repeats')
  t.equal(newNonce().length, 18)
})

t.test('request ids are sanitized and bounded, or generated', async (t) => {
  t.equal(requestIdFor('abc-123'), 'abc-123')
  t.equal(requestIdFor('a'.repeat(50)), 'a'.repeat(36))
  t.equal(requestIdFor('id\r\nX-Evil: 1'), 'idX-Evil:1')
  t.match(requestIdFor(undefined), /^[0-9a-f-]{36}$/)
  t.match(requestIdFor('\n\n'), /^[0-9a-f-]{36}$/)
})
