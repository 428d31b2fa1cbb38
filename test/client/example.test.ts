/**
 * `npm run example`'s runner as a newcomer starts it: `npm run dev`'s local mode plus the page's
 * own server, wired by one generated JWT secret and CORS_ORIGINS. The browser test drives the
 * page itself; this one checks the wiring and the page server's limits.
 */
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { join } from 'node:path'
import t from 'tap'
import { freePort, waitFor } from '../helpers/redis.ts'
import { ROOT } from './helpers.ts'

t.test('npm run example: the page on one origin signs a demo user in; the broker in local mode accepts that JWT from that origin', async (t) => {
  const [brokerPort, pagePort] = [await freePort(), await freePort()]
  const child = spawn('env', ['-u', 'NODE_OPTIONS', process.execPath, join(ROOT, 'client', 'example', 'run.ts')], {
    env: { PATH: process.env.PATH, BROKER_PORT: String(brokerPort), EXAMPLE_PORT: String(pagePort), LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let output = ''
  child.stdout.on('data', (chunk: Buffer) => { output += chunk.toString() })
  child.stderr.on('data', (chunk: Buffer) => { output += chunk.toString() })
  const exited = once(child, 'exit')
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL') })
  await waitFor(() => output.includes('Example page:') || child.exitCode !== null, 30_000, 50)
  t.match(output, 'LOCAL MODE', 'the broker is npm run dev\'s local mode')

  const page = `http://127.0.0.1:${pagePort}`
  const broker = `http://127.0.0.1:${brokerPort}`
  t.match(output, `Example page:  ${page}`)

  const html = await fetch(page)
  t.equal(html.status, 200)
  t.match(html.headers.get('content-type'), /text\/html/)
  t.match(html.headers.get('content-security-policy'), `connect-src 'self' ${broker}`, 'the page may talk to itself and the broker only')
  t.same(await (await fetch(`${page}/config.json`)).json(), { brokerUrl: broker, demoSignIn: true })

  const signIn = await fetch(`${page}/demo/sign-in`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user: 'dana' }) })
  t.equal(signIn.status, 200)
  const { jwt } = await signIn.json() as { jwt: string }

  const token = await fetch(`${broker}/v1/token`, { method: 'POST', headers: { authorization: `Bearer ${jwt}`, origin: page } })
  t.equal(token.status, 200, 'the broker verifies the demo JWT')
  t.equal(token.headers.get('access-control-allow-origin'), page, 'and allows the page\'s origin')
  t.equal((await token.json() as { userId: string }).userId, 'dana')
  t.notMatch(output, jwt, 'the JWT is never printed')

  const refused = await fetch(`${page}/demo/sign-in`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user: 'dana-1' }) })
  t.equal(refused.status, 400, 'only valid Nexconn user ids get a JWT')
  for (const path of ['/../package.json', '/lib/../../package.json', '/server.ts', '/lib/index.ts']) {
    t.equal((await fetch(`${page}${path}`)).status, 404, `${path}: only the page's own files are served`)
  }

  child.kill('SIGTERM')
  const [code] = await exited
  t.equal(code, 0, 'Ctrl-C stops both')
  await t.rejects(fetch(`${broker}/livez`), 'the broker is gone too')
})
