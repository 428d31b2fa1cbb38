/**
 * Regression: on Node 20 nothing said "needs Node >= 22.19": `npm ci` printed 50 EBADENGINE
 * warnings and exited 0, `npm run dev` failed with ERR_UNKNOWN_FILE_EXTENSION ".ts", `npm start`
 * crashed inside undici. Now `npm ci` refuses (engine-strict), the npm scripts that run the
 * service check first with one clear line, and .ci/run reads the same minimum from engines.
 * With a real older Node on the machine (Debian's is 20), the commands themselves are run.
 */
import { execFile } from 'node:child_process'
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { promisify } from 'node:util'
import t from 'tap'
import { cleanEnv, ROOT } from '../deploy/helpers.ts'

const run = promisify(execFile)
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { engines: { node: string }, scripts: Record<string, string> }
const minimum = pkg.engines.node.replace(/^>=\s*/, '')

async function check (version: string): Promise<{ code: number, stderr: string }> {
  try {
    await run(process.execPath, [join(ROOT, 'scripts', 'check-node.js')], { env: cleanEnv({ CHECK_NODE_VERSION: version }) })
    return { code: 0, stderr: '' }
  } catch (err) {
    const e = err as { code: number, stderr: string }
    return { code: e.code, stderr: e.stderr }
  }
}

t.test(`scripts/check-node.js: one clear line below ${minimum}, silence from it on`, async (t) => {
  const old = await check('20.20.2')
  t.equal(old.code, 1)
  t.equal(old.stderr, `chat-token-broker needs Node.js >= ${minimum} (Node.js 24 LTS recommended); this is Node.js v20.20.2.\n`)
  t.equal((await check('22.18.0')).code, 1, '22.18 is too old')
  t.same(await check(minimum), { code: 0, stderr: '' }, `${minimum} is enough`)
  t.same(await check('24.22.3'), { code: 0, stderr: '' })
})

t.test('every npm script that runs the service checks first; npm ci is strict about engines', async (t) => {
  for (const script of ['dev', 'start', 'test', 'emulator']) t.equal(pkg.scripts[`pre${script}`], 'node scripts/check-node.js', `pre${script}`)
  t.match(readFileSync(join(ROOT, '.npmrc'), 'utf8'), /^engine-strict=true$/m)
  const ci = readFileSync(join(ROOT, '.ci', 'run'), 'utf8')
  t.match(ci, /"node": \*">= \*/, '.ci/run reads the minimum from package.json engines')
  t.notMatch(ci, /-lt 22\b/, 'no separate hard-coded major version')
})

/** The machine's own older Node (Debian ships 20), with its npm beside it. */
const oldNode = ['/usr/bin/node', '/usr/local/bin/node'].find((path) => path !== process.execPath && existsSync(path) && existsSync(join(dirname(path), 'npm')))

t.test('with a real older Node: npm ci, npm run dev and npm start refuse with the message', async (t) => {
  if (oldNode === undefined) { t.skip('no older Node.js with npm on this machine', () => {}); return }
  const { stdout } = await run(oldNode, ['-p', 'process.versions.node'])
  const version = stdout.trim()
  const [major = 0, minor = 0] = version.split('.').map(Number)
  const [wantMajor = 0, wantMinor = 0] = minimum.split('.').map(Number)
  if (major > wantMajor || (major === wantMajor && minor >= wantMinor)) { t.skip(`${oldNode} is Node ${version}, not older than ${minimum}`, () => {}); return }
  const env = cleanEnv({ PATH: `${dirname(oldNode)}:/usr/bin:/bin`, npm_config_update_notifier: 'false' })

  // npm ci in a copy with this package.json and .npmrc: the engine check comes before any download.
  const dir = mkdtempSync(join(tmpdir(), 'ctb-old-node-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  for (const file of ['package.json', 'package-lock.json', '.npmrc']) copyFileSync(join(ROOT, file), join(dir, file))
  const ci = await run('npm', ['ci', '--ignore-scripts', '--offline'], { cwd: dir, env }).then(() => ({ code: 0, stderr: '' }), (err: { code: number, stderr: string }) => err)
  t.not(ci.code, 0, `npm ci fails on Node ${version}`)
  t.match(ci.stderr, /EBADENGINE/)
  t.match(ci.stderr, new RegExp(`Required: \\{"node":">=${minimum.replace('.', '\\.')}"\\}`), 'and says what is required')

  for (const script of ['dev', 'start']) {
    const result = await run('npm', ['run', script], { cwd: ROOT, env }).then(() => ({ code: 0, stderr: '' }), (err: { code: number, stderr: string }) => err)
    t.equal(result.code, 1, `npm run ${script} exits 1 on Node ${version}`)
    t.match(result.stderr, `chat-token-broker needs Node.js >= ${minimum}`, `npm run ${script} says why`)
  }
})
