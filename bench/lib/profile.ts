/**
 * Reads a V8 `.cpuprofile` (written by `node --cpu-prof`) and lists the functions with the most
 * self time: where a broker spends its CPU under load. Also usable by hand:
 *
 *   node bench/lib/profile.ts path/to/file.cpuprofile [top]
 */
import { existsSync, readFileSync } from 'node:fs'
import { relative } from 'node:path'

interface ProfileNode {
  id: number
  callFrame: { functionName: string, url: string, lineNumber: number }
}

interface CpuProfile {
  nodes: ProfileNode[]
  samples: number[]
  timeDeltas: number[]
}

export interface HotFunction {
  function: string
  location: string
  selfPct: number
}

function where (url: string, line: number): string {
  if (url === '') return ''
  const path = url.startsWith('file://') ? relative(process.cwd(), new URL(url).pathname) : url
  return `${path.replace(/^node_modules\//, '')}:${line + 1}`
}

export function hotFunctions (file: string, top = 15): HotFunction[] {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile
  const byId = new Map(profile.nodes.map((node) => [node.id, node]))
  const selfUs = new Map<string, number>()
  let total = 0
  profile.samples.forEach((id, i) => {
    const node = byId.get(id)
    const delta = profile.timeDeltas[i] ?? 0
    if (node === undefined) return
    const { functionName, url, lineNumber } = node.callFrame
    const key = `${functionName || '(anonymous)'}\t${where(url, lineNumber)}`
    selfUs.set(key, (selfUs.get(key) ?? 0) + delta)
    total += delta
  })
  return [...selfUs.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([key, us]) => {
      const [fn = '', location = ''] = key.split('\t')
      return { function: fn, location, selfPct: Math.round((us / total) * 1000) / 10 }
    })
}

export function formatHot (hot: readonly HotFunction[]): string {
  return hot.map((h) => `  ${h.selfPct.toFixed(1).padStart(5)} %  ${h.function}  ${h.location}`).join('\n')
}

/** The hot functions of a broker started with `cpuProfileDir` (after it stopped), if profiling is on. */
export function brokerProfile (dir: string | undefined, name: string, top = 15): HotFunction[] | undefined {
  if (dir === undefined) return undefined
  const file = `${dir}/${name}.cpuprofile`
  return existsSync(file) ? hotFunctions(file, top) : undefined
}

if (import.meta.main) {
  const [file, top] = process.argv.slice(2)
  if (file === undefined) {
    process.stderr.write('usage: node bench/lib/profile.ts <file.cpuprofile> [top]\n')
    process.exit(2)
  }
  process.stdout.write(`${formatHot(hotFunctions(file, Number(top ?? 25)))}\n`)
}
