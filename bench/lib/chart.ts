/**
 * The Node.js flags the Helm chart gives the broker with its default values (NODE_OPTIONS, rendered
 * by `chat-token-broker.maxOldSpaceMiB`), so every benchmark runs the broker as the chart runs it.
 * test/deploy/helm.test.ts checks that this and the rendered chart agree.
 */
import { readFileSync } from 'node:fs'
import { parse } from 'yaml'

const VALUES = new URL('../../helm/chat-token-broker/values.yaml', import.meta.url)

interface ChartValues {
  resources?: { limits?: { memory?: string } }
  heap: { percentOfMemoryLimit: number, semiSpaceMiB: number }
}

/** MiB of a Kubernetes quantity written in Mi or Gi (the only units the chart accepts for the limit). */
export function mebibytes (quantity: string): number {
  const match = /^(\d+)(Mi|Gi)$/.exec(quantity)
  if (match === null) throw new Error(`memory quantity ${quantity}: expected Mi or Gi`)
  return Number(match[1]) * (match[2] === 'Gi' ? 1024 : 1)
}

export function chartNodeFlags (values: ChartValues = parse(readFileSync(VALUES, 'utf8')) as ChartValues): string[] {
  const limit = values.resources?.limits?.memory
  if (limit === undefined) return []
  return [`--max-old-space-size=${Math.floor(mebibytes(limit) * values.heap.percentOfMemoryLimit / 100)}`, `--max-semi-space-size=${values.heap.semiSpaceMiB}`]
}

/** The chart's default memory limit and request, MiB. */
export function chartMemory (): { requestMiB: number, limitMiB: number } {
  const values = parse(readFileSync(VALUES, 'utf8')) as { resources: { requests: { memory: string }, limits: { memory: string } } }
  return { requestMiB: mebibytes(values.resources.requests.memory), limitMiB: mebibytes(values.resources.limits.memory) }
}
