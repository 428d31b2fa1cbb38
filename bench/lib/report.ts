/**
 * Results: each scenario reports figures (value, unit, target, pass); the run prints them as one
 * Markdown table and writes everything, per-round details included, to bench/results/<timestamp>.json.
 */
import { execFileSync } from 'node:child_process'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { availableParallelism, loadavg, totalmem } from 'node:os'
import { join } from 'node:path'

export interface Figure {
  metric: string
  value: number
  unit: string
  /** Human-readable target, e.g. "≥ 60 %"; absent = reported for context only. */
  target?: string
  pass?: boolean
  /** Min–max over the rounds the value is the median of, e.g. "9,812–10,204". */
  spread?: string
}

export interface ScenarioResult {
  scenario: string
  figures: Figure[]
  details: Record<string, unknown>
  /** Set when the scenario could not run to the end. */
  error?: string
  /** 1-minute load average before and after: other work on the machine shows here. */
  loadavg?: { before: number, after: number }
  seconds?: number
}

export interface Machine {
  date: string
  cpus: number
  cpuModel: string
  memoryGiB: number
  node: string
  commit: string
  /** Uncommitted changes under src/ were built into dist/ (others may be working there). */
  srcDirty: boolean
}

export function describeMachine (): Machine {
  const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8')
  const git = (args: string[]): string => {
    try {
      return execFileSync('git', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim()
    } catch {
      return ''
    }
  }
  return {
    date: new Date().toISOString(),
    cpus: availableParallelism(),
    cpuModel: /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1]?.trim() ?? 'unknown',
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    commit: git(['rev-parse', '--short', 'HEAD']),
    srcDirty: git(['status', '--porcelain', '--', 'src']) !== ''
  }
}

export function load1 (): number {
  return Math.round((loadavg()[0] ?? 0) * 100) / 100
}

export function figure (metric: string, value: number, unit: string, target?: { text: string, pass: boolean }, spread?: string): Figure {
  return {
    metric,
    value,
    unit,
    ...(target === undefined ? {} : { target: target.text, pass: target.pass }),
    ...(spread === undefined ? {} : { spread })
  }
}

/** "min–max" of a median's rounds, with `digits` decimals (values scaled by `scale`, e.g. 100 for %). */
export function spreadText (values: { min: number, max: number }, digits: number, scale = 1): string {
  const text = (n: number): string => (n * scale).toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: 0 })
  return `${text(values.min)}–${text(values.max)}`
}

function formatValue (f: Figure): string {
  if (!Number.isFinite(f.value)) return 'n/a'
  const digits = Math.abs(f.value) >= 100 || Number.isInteger(f.value) ? 0 : 2
  const text = f.value.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits === 0 ? 0 : Math.min(digits, 2) })
  return f.unit === '' ? text : `${text} ${f.unit}`
}

export function markdownTable (results: readonly ScenarioResult[]): string {
  const rows = ['| Scenario | Metric | Result (median) | Rounds min–max | Target | Pass |', '|---|---|---:|---:|---|---|']
  for (const result of results) {
    if (result.error !== undefined) rows.push(`| ${result.scenario} | **failed to run** | ${result.error.split('\n')[0] ?? ''} | | | ✗ |`)
    for (const f of result.figures) {
      const pass = f.pass === undefined ? '' : f.pass ? '✓' : '✗ **missed**'
      rows.push(`| ${result.scenario} | ${f.metric} | ${formatValue(f)} | ${f.spread ?? ''} | ${f.target ?? ''} | ${pass} |`)
    }
  }
  return rows.join('\n')
}

export function machineLine (m: Machine): string {
  return `${m.date.slice(0, 16).replace('T', ' ')} UTC · ${m.cpus} CPUs (${m.cpuModel}) · ${m.memoryGiB} GiB · Node ${m.node} · commit ${m.commit}${m.srcDirty ? ' (+ uncommitted src/ changes)' : ''}`
}

export function targetsLine (results: readonly ScenarioResult[]): string {
  const judged = results.flatMap((r) => r.figures).filter((f) => f.pass !== undefined)
  const met = judged.filter((f) => f.pass === true).length
  const failed = results.filter((r) => r.error !== undefined).length
  return `${met} of ${judged.length} targets met${failed > 0 ? `; ${failed} scenario(s) failed to run` : ''}`
}

export function writeJson (dir: string, report: { machine: Machine, mode: string, results: readonly ScenarioResult[] }): string {
  mkdirSync(dir, { recursive: true })
  const file = join(dir, `${report.machine.date.replace(/[:.]/g, '-')}.json`)
  writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`)
  return file
}
