import t from 'tap'
import { classify, issuedToken, KNOWN_CODES, parseRetryAfter } from '../../src/nexconn/responses.ts'

const NOW = Date.parse('2026-06-01T00:00:00Z')
const json = (value: unknown): string => JSON.stringify(value)

t.test('success shapes', async (t) => {
  t.match(classify(200, json({ code: 0, result: { userId: 'u1', accessToken: 'tok' } }), undefined, NOW), { kind: 'ok', businessCode: 0 })
  t.match(classify(200, json({ code: 200, userId: 'u1', token: 'tok' }), undefined, NOW), { kind: 'ok', businessCode: 200 })
  t.match(classify(200, json({ code: '200' }), undefined, NOW), { kind: 'ok', businessCode: 200 }, 'numeric string code (legacy)')
  t.match(classify(500, json({ code: 0 }), undefined, NOW), { kind: 'domain_failure', outcome: 'http_error' }, 'success code with a 5xx status is not trusted')
})

t.test('business codes decide first, with HTTP 200 (legacy) or a mapped status', async (t) => {
  for (const status of [200, 400, 401, 403, 430]) {
    t.match(classify(status, json({ code: 1004, errorMessage: 'x' }), undefined, NOW), { kind: 'rejected', reason: 'credentials', businessCode: 1004 })
    t.match(classify(status, json({ code: 1001 }), undefined, NOW), { kind: 'rejected', reason: 'credentials' })
    t.match(classify(status, json({ code: 1006 }), undefined, NOW), { kind: 'rejected', reason: 'credentials' })
    t.match(classify(status, json({ code: 1007 }), undefined, NOW), { kind: 'rejected', reason: 'credentials' })
    t.match(classify(status, json({ code: 1002 }), undefined, NOW), { kind: 'rejected', reason: 'bad_parameter' })
    t.match(classify(status, json({ code: 1005 }), undefined, NOW), { kind: 'rejected', reason: 'bad_parameter' })
    t.match(classify(status, json({ code: 400 }), undefined, NOW), { kind: 'rejected', reason: 'bad_parameter' })
    t.match(classify(status, json({ code: 2007 }), undefined, NOW), { kind: 'rejected', reason: 'user_limit' })
    t.match(classify(status, json({ code: 1009 }), undefined, NOW), { kind: 'rejected', reason: 'not_enabled' })
    t.match(classify(status, json({ code: 1008 }), '2', NOW), { kind: 'rate_limited', retryAfterMs: 2000 })
    t.match(classify(status, json({ code: 1000 }), undefined, NOW), { kind: 'domain_failure', outcome: 'business_error' })
    t.match(classify(status, json({ code: 1050 }), undefined, NOW), { kind: 'domain_failure', outcome: 'business_error' })
  }
})

t.test('then the HTTP status; an unknown code is about the request, never the domain', async (t) => {
  t.match(classify(429, 'Too Many Requests', undefined, NOW), { kind: 'rate_limited', retryAfterMs: undefined })
  t.match(classify(430, '', undefined, NOW), { kind: 'rejected', reason: 'not_enabled' })
  for (const status of [200, 400, 403, 409, 410, 422]) {
    t.match(classify(status, json({ code: 9999, errorMessage: 'user\u202e is gone' }), undefined, NOW), { kind: 'rejected', reason: 'refused', businessCode: 9999, message: 'user  is gone' }, `unknown code with ${status}: a refusal of this request`)
  }
  t.match(classify(401, json({ code: 9999 }), undefined, NOW), { kind: 'rejected', reason: 'credentials' }, '401 says authentication failed')
  for (const status of [500, 501, 507]) {
    t.match(classify(status, json({ code: 9999 }), undefined, NOW), { kind: 'request_failure', outcome: 'business_error', businessCode: 9999 }, `unknown code with ${status}: the server failed this request`)
  }
  for (const status of [502, 503, 504]) {
    t.match(classify(status, json({ code: 9999 }), undefined, NOW), { kind: 'domain_failure' }, `${status}: a gateway speaks for the domain`)
  }
  t.match(classify(502, '<html>bad gateway</html>', undefined, NOW), { kind: 'domain_failure', outcome: 'http_error', httpStatus: 502 })
  t.match(classify(403, '<html>WAF</html>', undefined, NOW), { kind: 'domain_failure', outcome: 'http_error' }, 'a non-JSON 4xx is a proxy, not Nexconn: fail over')
  t.match(classify(404, json({ code: 404 }), undefined, NOW), { kind: 'domain_failure' }, 'unknown endpoint on that domain')
  t.match(classify(200, '{"code":0,"res', undefined, NOW), { kind: 'domain_failure', outcome: 'invalid_response' })
  t.match(classify(200, '[1,2]', undefined, NOW), { kind: 'domain_failure', outcome: 'invalid_response' })
})

t.test('codes the operator lists as "user disabled"', async (t) => {
  const userDisabledCodes = new Set([9999, 1002])
  for (const status of [200, 403, 500]) {
    t.match(classify(status, json({ code: 9999 }), undefined, NOW, { userDisabledCodes }), { kind: 'rejected', reason: 'user_disabled', businessCode: 9999 })
  }
  t.match(classify(400, json({ code: 1002 }), undefined, NOW, { userDisabledCodes }), { kind: 'rejected', reason: 'user_disabled' }, 'the list wins over the default meaning')
  t.match(classify(500, json({ code: 9998 }), undefined, NOW, { userDisabledCodes }), { kind: 'request_failure' })
  t.ok(KNOWN_CODES.has(1004) && KNOWN_CODES.has(0) && !KNOWN_CODES.has(9999))
})

t.test('Retry-After', async (t) => {
  t.equal(parseRetryAfter(undefined, NOW), undefined)
  t.equal(parseRetryAfter('3', NOW), 3000)
  t.equal(parseRetryAfter('0.5', NOW), 500)
  t.equal(parseRetryAfter(new Date(NOW + 4000).toUTCString(), NOW), 4000)
  t.equal(parseRetryAfter('999999', NOW), 60_000, 'capped')
  t.equal(parseRetryAfter('soon', NOW), undefined)
})

t.test('issued token validation', async (t) => {
  const token = '+/+/abc=='
  t.same(issuedToken({ code: 0, result: { userId: 'u1', accessToken: token } }, 'u1'), { userId: 'u1', token })
  t.same(issuedToken({ code: 200, userId: 'u1', token }, 'u1'), { userId: 'u1', token })
  t.equal(issuedToken({ code: 0, result: { userId: 'u2', accessToken: token } }, 'u1'), undefined, 'other user')
  t.equal(issuedToken({ code: 0, result: { accessToken: token } }, 'u1'), undefined, 'no echo')
  t.equal(issuedToken({ code: 0, result: { userId: 'u1', accessToken: '' } }, 'u1'), undefined, 'empty')
  t.equal(issuedToken({ code: 0, result: { userId: 'u1', accessToken: 'a b' } }, 'u1'), undefined, 'space')
  t.equal(issuedToken({ code: 0, result: { userId: 'u1', accessToken: 'é' } }, 'u1'), undefined, 'non-ASCII')
  t.equal(issuedToken({ code: 0, result: { userId: 'u1', accessToken: 'a'.repeat(1025) } }, 'u1'), undefined, 'too long')
  t.equal(issuedToken({ code: 0, result: { userId: 'u1', accessToken: 42 } }, 'u1'), undefined, 'not a string')
  t.equal(issuedToken({ code: 0 }, 'u1'), undefined, 'nothing')
})
