/**
 * Regression: local mode printed one JWT for one user and neither the JWT secret nor the
 * emulator's credentials, so trying a second user, the admin API or a webhook meant reading the
 * source; and it listened on every interface. Now `npm run dev` listens on 127.0.0.1, prints the
 * settings it generated and one command per route, and each printed command works as printed
 * (run here through sh, with the printed exports, `npm run -s token` and curl).
 */
import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { capture, succeeds } from '../../scripts/container/exec.ts'
import { cleanEnv, ROOT } from '../deploy/helpers.ts'
import { freePort } from '../helpers/redis.ts'

/** Listening TCP sockets on `port`, as "address" strings, from /proc/net/tcp{,6}. */
function listeners (port: number): string[] {
  const found: string[] = []
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = ''
    try { text = readFileSync(file, 'utf8') } catch { continue }
    for (const line of text.split('\n').slice(1)) {
      const [, local, , state] = line.trim().split(/\s+/)
      if (state !== '0A' || local === undefined) continue // 0A: LISTEN
      const [address = '', hexPort = ''] = local.split(':')
      if (Number.parseInt(hexPort, 16) === port) found.push(address)
    }
  }
  return found
}

t.test('npm run dev: 127.0.0.1 only, and every printed command works as printed', async (t) => {
  if (!await succeeds(['sh', '-c', 'command -v curl'])) { t.skip('no curl on this machine', () => {}); return }
  const port = await freePort()
  // Busy CI machines: a start-up stall must not shed these requests (load shedding has its own tests).
  const env = cleanEnv({ PORT: String(port), MAX_EVENT_LOOP_DELAY_MS: '0' })
  for (const name of Object.keys(env)) if (/^(HOST|JWT_|NEXCONN_|ADMIN_|WEBHOOK_|REDIS_)/.test(name)) Reflect.deleteProperty(env, name)
  const child = spawn(process.execPath, [join(ROOT, 'src', 'dev.ts')], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  child.stdout.on('data', (chunk: Buffer) => { output += chunk.toString() })
  child.stderr.on('data', (chunk: Buffer) => { output += chunk.toString() })
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve))
  t.teardown(() => { child.kill('SIGKILL') })
  const deadline = Date.now() + 20_000
  while (!/curl -s http:\/\/\S+\/readyz/.test(output) && Date.now() < deadline) await sleep(50)
  await sleep(300)

  t.same(listeners(port), ['0100007F'], 'listens on 127.0.0.1 only')
  t.match(output, `Broker:       http://127.0.0.1:${port}`)
  const exports = [...output.matchAll(/^ {2}export ([A-Z_]+)=(\S+)$/gm)].map((m) => `export ${m[1] as string}=${m[2] as string}`)
  t.same(exports.map((line) => /export (\w+)=/.exec(line)?.[1]).sort(), ['ADMIN_API_KEY', 'JWT_SECRET', 'NEXCONN_APP_KEY', 'NEXCONN_APP_SECRET'], 'the generated settings are printed')
  const jwtLine = /^ {2}(JWT=\$\(npm run -s token -- --sub alice\))/m.exec(output)?.[1]
  t.ok(jwtLine, 'a command that makes a JWT for any user')
  const commands = [...output.matchAll(/^ {2}(curl .*)$/gm)].map((m) => m[1] as string)
  const prelude = [...exports, jwtLine ?? 'false'].join('\n')
  const runPrinted = async (pattern: RegExp): Promise<string> => {
    const command = commands.find((c) => pattern.test(c))
    t.ok(command, `printed: ${String(pattern)}`)
    return await capture(['sh', '-c', `${prelude}\n${command ?? 'false'}`], { cwd: ROOT, env })
  }

  const token = JSON.parse(await runPrinted(/-X POST \S+\/v1\/token -H "Authorization: Bearer \$JWT"/)) as Record<string, unknown>
  t.equal(token.userId, 'alice', 'POST /v1/token for alice')
  t.type(token.token, 'string')
  t.equal((await runPrinted(/-X DELETE/)).trim(), '204', 'DELETE /v1/token?revoke=true')
  t.same(JSON.parse(await runPrinted(/\/v1\/admin\/revoke/)), { revoked: 1 }, 'POST /v1/admin/revoke with the printed admin key')
  t.same(JSON.parse(await runPrinted(/--webhook/)), { status: 'ok' }, 'POST /v1/webhooks/nexconn with a signed URL')
  t.match(JSON.parse(await runPrinted(/\/readyz$/)), { status: 'ready' })
  const sample = /curl -s -X POST (\S+) -H "Authorization: Bearer (ey[\w.-]+)"/.exec(output)
  t.ok(sample, 'and a ready-made curl with a sample JWT')

  child.kill('SIGTERM')
  t.equal(await exited, 0, 'exits cleanly on SIGTERM')
})
