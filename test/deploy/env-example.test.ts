/**
 * .env.example against VARIABLES in src/config.ts: every variable named, defaults shown as the
 * service applies them, no real secret values, an example for each JWT mode, and the file, once
 * its REQUIRED lines are filled in, is a configuration the service accepts.
 */
import t from 'tap'
import { loadConfig, VARIABLES } from '../../src/config.ts'
import { readText } from './helpers.ts'

const text = readText('.env.example')
const lines = text.split('\n')
/** `NAME=value` and `# NAME=value`, with whether the line is active. */
const assignments = lines.flatMap((line, index) => {
  const match = /^(#\s*)?([A-Z][A-Z0-9_]*)=(.*)$/.exec(line)
  return match === null ? [] : [{ active: match[1] === undefined, name: match[2] as string, value: match[3] as string, line: index + 1 }]
})
const COMPOSE_ONLY = new Set(['COMPOSE_PROFILES', 'BROKER_PUBLISH', 'EMULATOR_PUBLISH'])

t.test('names every variable in VARIABLES', async (t) => {
  const named = new Set(assignments.map((a) => a.name))
  for (const spec of VARIABLES) t.ok(named.has(spec.name), `${spec.name} is in .env.example`)
})

t.test('names nothing else (no typos), except the compose-only settings', async (t) => {
  const known = new Set(VARIABLES.flatMap((v) => v.secret === true ? [v.name, `${v.name}_FILE`] : [v.name]))
  for (const { name, line } of assignments) t.ok(known.has(name) || COMPOSE_ONLY.has(name), `line ${line}: ${name} is a known variable`)
})

t.test('each default shown is the default the service applies', async (t) => {
  for (const spec of VARIABLES) {
    if (spec.default === undefined) continue
    const shown = assignments.filter((a) => a.name === spec.name)
    t.ok(shown.some((a) => a.value === spec.default && !a.active), `# ${spec.name}=${spec.default}`)
  }
})

t.test('secrets are marked and never filled in; the three JWT modes are shown', async (t) => {
  for (const spec of VARIABLES.filter((v) => v.secret === true)) {
    for (const a of assignments.filter((x) => x.name === spec.name && x.active)) t.equal(a.value, '', `${spec.name} is empty`)
    const index = lines.findIndex((line) => new RegExp(`^#?\\s*${spec.name}=`).test(line))
    const comment = lines.slice(Math.max(0, index - 3), index).join('\n')
    t.match(comment, /\[secret\]/, `${spec.name} is marked [secret] above its line`)
  }
  t.ok(assignments.some((a) => a.name === 'JWT_SECRET'), 'HMAC secret mode')
  t.ok(assignments.some((a) => a.name === 'JWT_PUBLIC_KEY' && a.value.includes('BEGIN PUBLIC KEY')), 'PEM mode with an example')
  t.ok(assignments.some((a) => a.name === 'JWT_JWKS_URL' && a.value.startsWith('https://')), 'JWKS mode with an example')
  t.match(text, /_FILE/, 'the <NAME>_FILE form is explained')
})

t.test('lines follow env-file syntax (no quotes, no spaces around =)', async (t) => {
  for (const [index, line] of lines.entries()) {
    if (line.trim() === '' || line.startsWith('#')) continue
    t.match(line, /^[A-Z][A-Z0-9_]*=[^"' ]*$/, `line ${index + 1}: ${line}`)
  }
})

t.test('filled in (required lines plus one JWT mode and Redis), it is a valid production configuration', async (t) => {
  const env: Record<string, string> = {}
  for (const a of assignments.filter((x) => x.active && !COMPOSE_ONLY.has(x.name))) env[a.name] = a.value
  t.same(Object.keys(env).sort(), ['NEXCONN_APP_KEY', 'NEXCONN_APP_SECRET', 'REDIS_URL', 'TOKEN_ENCRYPTION_KEY'], 'the active lines: the REQUIRED ones and compose\'s Redis')
  t.equal(env.REDIS_URL, 'redis://redis:6379', 'REDIS_URL is the compose file\'s `redis` service')
  Object.assign(env, {
    NEXCONN_APP_KEY: 'exampleappkey',
    NEXCONN_APP_SECRET: 'example-app-secret',
    TOKEN_ENCRYPTION_KEY: Buffer.alloc(32, 1).toString('base64'),
    JWT_SECRET: 'an-example-jwt-secret-that-is-long-enough',
    REDIS_URL: 'redis://redis:6379'
  })
  // Every commented default applied explicitly must also be accepted.
  for (const a of assignments.filter((x) => !x.active)) {
    const spec = VARIABLES.find((v) => v.name === a.name)
    if (spec?.default !== undefined && a.value === spec.default) env[a.name] = a.value
  }
  t.doesNotThrow(() => loadConfig(env, { runMode: 'production' }))
  t.throws(() => loadConfig({ ...env, NEXCONN_APP_KEY: '' }, { runMode: 'production' }), 'an unfilled REQUIRED line stops the service')
})
