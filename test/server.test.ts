import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { setTimeout as sleep } from 'node:timers/promises'
import { request } from 'undici'
import t from 'tap'
import { freePort } from './helpers/redis.ts'

const SRC = (file: string): string => fileURLToPath(new URL(`../src/${file}`, import.meta.url))

async function run (file: string, env: Record<string, string>, untilMs = 10_000): Promise<{ code: number | null, stdout: string, stderr: string }> {
  const child = spawn(process.execPath, [SRC(file)], { env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString() })
  child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
  const timer = setTimeout(() => { child.kill('SIGKILL') }, untilMs)
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve))
  clearTimeout(timer)
  return { code, stdout, stderr }
}

t.test('npm start refuses to start without real configuration: one line per problem, exit 78', async (t) => {
  const { code, stderr } = await run('server.ts', { JWT_SECRET: 'short-secret-canary', NEXCONN_APP_SECRET: 'the-app-secret-canary' })
  t.equal(code, 78)
  const lines = stderr.trim().split('\n')
  t.equal(lines.length, 3, stderr)
  t.ok(lines.some((l) => /^config error: NEXCONN_APP_KEY is required/.test(l)))
  t.ok(lines.some((l) => /^config error: JWT_SECRET must be at least 32 bytes/.test(l)))
  t.match(lines.at(-1), /refusing to start/)
  t.notMatch(stderr, /canary/, 'no secret value is echoed')
})

t.test('npm run dev: local mode prints a sample JWT and a curl that returns a token', async (t) => {
  const port = await freePort()
  // Busy CI machines: a start-up stall must not shed this test's request (load shedding has its own tests).
  const child = spawn(process.execPath, [SRC('dev.ts')], { env: { PATH: process.env.PATH ?? '', PORT: String(port), HOST: '127.0.0.1' }, stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  child.stdout.on('data', (chunk: Buffer) => { output += chunk.toString() })
  child.stderr.on('data', (chunk: Buffer) => { output += chunk.toString() })
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve))
  t.teardown(() => { child.kill('SIGKILL') })

  const deadline = Date.now() + 15_000
  while (!/curl -s -X POST/.test(output) && Date.now() < deadline) await sleep(50)
  t.match(output, /LOCAL MODE/)
  const curl = /curl -s -X POST (http:\/\/127\.0\.0\.1:\d+\/v1\/token) -H "Authorization: Bearer ([\w.-]+)"/.exec(output)
  t.ok(curl, 'a copy-paste curl is printed')
  const url = curl?.[1] ?? ''
  await sleep(200)
  const res = await request(url, { method: 'POST', headers: { authorization: `Bearer ${curl?.[2] ?? ''}` } })
  t.equal(res.statusCode, 200)
  const body = await res.body.json() as { userId: string, token: string }
  t.equal(body.userId, 'devuser1')
  t.ok(body.token.length > 0)
  const live = await request(`http://127.0.0.1:${port}/livez`)
  t.equal(live.statusCode, 200)
  await live.body.dump()

  child.kill('SIGTERM')
  t.equal(await exited, 0, 'exits cleanly on SIGTERM')
})
