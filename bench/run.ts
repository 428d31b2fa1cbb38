/**
 * `npm run bench`: builds the broker as in production, then runs the scenarios one after another,
 * each starting what it needs on 127.0.0.1 (redis-server, the Nexconn emulator, `node dist/server.js`
 * processes, the bare Fastify reference) and stopping it afterwards. Prints a Markdown table and
 * writes bench/results/<timestamp>.json.
 *
 *   npm run bench                                  full run (about 4 minutes)
 *   npm run bench -- --smoke                       tiny sizes, under a minute
 *   npm run bench -- --scenarios=hit-path,herd     some scenarios (or BENCH_SCENARIOS=…)
 *   npm run bench -- --profile                     brokers write CPU profiles; hot functions reported
 *
 * Exit code 1 when a scenario could not run; missed targets are reported, not fatal.
 */
import { execFileSync } from 'node:child_process'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { FULL, SMOKE, newEncryptionKey, type BenchContext } from './lib/context.ts'
import { makeKeys } from './lib/jwt.ts'
import { setLogDir, stopAll } from './lib/processes.ts'
import { formatHot, type HotFunction } from './lib/profile.ts'
import { describeMachine, load1, machineLine, markdownTable, targetsLine, writeJson, type ScenarioResult } from './lib/report.ts'
import { coldSpike } from './scenarios/cold-spike.ts'
import { herd } from './scenarios/herd.ts'
import { hitPath } from './scenarios/hit-path.ts'
import { memory } from './scenarios/memory.ts'
import { redisDown } from './scenarios/redis-down.ts'

const SCENARIOS: Record<string, (ctx: BenchContext) => Promise<ScenarioResult>> = {
  'hit-path': hitPath,
  'cold-spike': coldSpike,
  herd,
  memory,
  // Last: it kills its Redis mid-run.
  'redis-down': redisDown
}

const { values } = parseArgs({
  options: {
    smoke: { type: 'boolean', default: false },
    scenarios: { type: 'string', default: process.env.BENCH_SCENARIOS ?? Object.keys(SCENARIOS).join(',') },
    profile: { type: 'boolean', default: process.env.BENCH_PROFILE === '1' }
  }
})

const selected = values.scenarios.split(',').map((s) => s.trim()).filter(Boolean)
const unknown = selected.filter((name) => !(name in SCENARIOS))
if (unknown.length > 0) {
  process.stderr.write(`unknown scenario(s): ${unknown.join(', ')}; choose from ${Object.keys(SCENARIOS).join(', ')}\n`)
  process.exit(2)
}

const say = (line: string): void => { process.stderr.write(`[bench] ${line}\n`) }

const workDir = mkdtempSync(join(tmpdir(), 'ctb-bench-'))
setLogDir(join(workDir, 'logs'))
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => { void stopAll().finally(() => process.exit(130)) })
}

say('building the broker (npm run build)')
execFileSync('npm', ['run', '--silent', 'build'], { stdio: 'inherit' })

const ctx: BenchContext = {
  sizes: values.smoke ? SMOKE : FULL,
  smoke: values.smoke,
  keys: makeKeys(),
  encryptionKey: newEncryptionKey(),
  profileDir: values.profile ? join(workDir, 'profiles') : undefined
}
const machine = describeMachine()
const results: ScenarioResult[] = []

for (const name of selected) {
  const scenario = SCENARIOS[name]
  if (scenario === undefined) continue
  say(`${name}: running`)
  const started = Date.now()
  const before = load1()
  let result: ScenarioResult
  try {
    result = await scenario(ctx)
  } catch (err) {
    result = { scenario: name, figures: [], details: {}, error: err instanceof Error ? (err.stack ?? err.message) : String(err) }
    say(`${name}: FAILED\n${result.error}`)
  } finally {
    await stopAll()
  }
  result.loadavg = { before, after: load1() }
  result.seconds = Math.round((Date.now() - started) / 1000)
  results.push(result)
  say(`${name}: done in ${result.seconds} s (load average ${before} → ${result.loadavg.after})`)
}

const file = writeJson(join(import.meta.dirname, 'results'), { machine, mode: values.smoke ? 'smoke' : 'full', results })
const out: string[] = [
  `## chat-token-broker benchmark${values.smoke ? ' (smoke sizes: not comparable with a full run)' : ''}`,
  '',
  machineLine(machine),
  '',
  markdownTable(results),
  '',
  targetsLine(results),
  `Details: ${file}; child logs: ${join(workDir, 'logs')}`
]
for (const result of results) {
  for (const [key, value] of Object.entries(result.details)) {
    if (/profile$/i.test(key) && Array.isArray(value)) out.push('', `Hot functions (self time), ${result.scenario} ${key}:`, formatHot(value as HotFunction[]))
  }
}
process.stdout.write(`${out.join('\n')}\n`)
process.exit(results.some((r) => r.error !== undefined) ? 1 : 0)
