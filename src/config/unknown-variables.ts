/**
 * Misspelt settings must not pass silently: `JWT_SECERT` or `NEXCON_REGION` would otherwise leave
 * the default in place and the broker would start as if nothing were set. An environment variable
 * is refused when it is not a setting and either carries one of the broker's prefixes (derived
 * from VARIABLES: the first word of each name, `RATE_LIMIT_` for the rate limits) or is within a
 * couple of typos of a setting's name. The message names the variable, never its value, and
 * suggests the nearest setting.
 *
 * Secrets' `<NAME>_FILE` forms are settings too; the `_FILE` form of any other setting is left to
 * the reader, which refuses it with its own message. Also left alone: the variables Kubernetes
 * service links and legacy Docker links add for a Service or container called `redis`, `jwt`...
 * (`REDIS_SERVICE_HOST`, `REDIS_PORT_6379_TCP_ADDR`), which the operator did not write.
 */
import type { VariableSpec } from './variables.ts'

/** First words other software uses for its own variables (LOG_FORMAT, MAX_THREADS, USER_AGENT). */
const SHARED_WORDS = new Set(['LOG', 'MAX', 'USER'])
const SERVICE_LINK = /_(SERVICE_HOST|SERVICE_PORT(_[A-Z0-9_]+)?|PORT(_\d+_(TCP|UDP|SCTP)(_(PROTO|PORT|ADDR))?)?|NAME|ENV_[A-Z0-9_]+)$/

/** The broker's prefixes: a word shared by several settings is kept as long as they agree. */
export function prefixesOf (variables: readonly VariableSpec[]): string[] {
  const groups = new Map<string, string[][]>()
  for (const { name } of variables) {
    const words = name.split('_')
    const first = words[0] as string
    if (words.length < 2 || SHARED_WORDS.has(first)) continue
    groups.set(first, [...groups.get(first) ?? [], words])
  }
  const prefixes: string[] = []
  for (const [first, names] of groups) {
    let length = 1
    if (names.length > 1) {
      const shortest = Math.min(...names.map((words) => words.length)) - 1
      while (length < shortest && names.every((words) => words[length] === (names[0] as string[])[length])) length++
    }
    prefixes.push(`${length === 1 ? first : (names[0] as string[]).slice(0, length).join('_')}_`)
  }
  return prefixes.sort()
}

/** Optimal string alignment distance: insertions, deletions, substitutions and swaps of neighbours. */
export function editDistance (a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)))
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const row = d[i] as number[]
      const above = d[i - 1] as number[]
      row[j] = Math.min(above[j] as number + 1, row[j - 1] as number + 1, above[j - 1] as number + (a[i - 1] === b[j - 1] ? 0 : 1))
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) row[j] = Math.min(row[j] as number, (d[i - 2] as number[])[j - 2] as number + 1)
    }
  }
  return (d[a.length] as number[])[b.length] as number
}

/** One problem line per environment variable that looks like a misspelt setting. */
export function unknownVariableProblems (env: Readonly<Record<string, string | undefined>>, variables: readonly VariableSpec[]): string[] {
  const known = new Set(variables.flatMap((v) => v.secret === true ? [v.name, `${v.name}_FILE`] : [v.name]))
  const prefixes = prefixesOf(variables)
  const problems: string[] = []
  for (const name of Object.keys(env).sort()) {
    if (known.has(name) || !/^[A-Z][A-Z0-9_]*$/.test(name)) continue
    if (name.endsWith('_FILE') && known.has(name.slice(0, -'_FILE'.length))) continue
    if (SERVICE_LINK.test(name)) continue
    let nearest = ''
    let distance = Infinity
    for (const candidate of known) {
      const d = editDistance(name, candidate)
      if (d < distance) { nearest = candidate; distance = d }
    }
    const ours = prefixes.some((prefix) => name.startsWith(prefix))
    const typo = name.includes('_') && name.length >= 8 && distance <= 2
    if (!ours && !typo) continue
    const hint = distance <= Math.max(2, Math.floor(name.length / 4)) ? `did you mean ${nearest}?` : 'it is not one of the settings in the README\'s Configuration section.'
    problems.push(`${name} is not a setting of the broker: ${hint} Rename or remove it (a misspelt setting would leave the default in place).`)
  }
  return problems
}
