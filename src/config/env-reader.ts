/**
 * Reading the environment: defaults, `<NAME>_FILE` for secrets, typed accessors, and problems
 * collected rather than thrown one by one, so an operator fixes a bad deployment in one round.
 */
import { unknownVariableProblems } from './unknown-variables.ts'
import { VARIABLES } from './variables.ts'

export type Env = Readonly<Record<string, string | undefined>>

export interface HostPort { host: string, port: number }

export class ConfigError extends Error {
  readonly problems: string[]
  constructor (problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`)
    this.name = 'ConfigError'
    this.problems = problems
  }
}

const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]', '::1'])

export function isLoopbackHost (hostname: string): boolean {
  return LOOPBACK_HOSTS.has(hostname) || /^127\.\d+\.\d+\.\d+$/.test(hostname) || hostname.endsWith('.localhost')
}

export function splitList (raw: string): string[] {
  return raw.split(',').map((part) => part.trim()).filter((part) => part !== '')
}

/**
 * Reads variables from one env object, applies the documented defaults, resolves `<NAME>_FILE`
 * for secrets and collects problems. Knows each variable's spec, so a message about a secret
 * never includes its value.
 */
export class EnvReader {
  readonly #env: Env
  readonly #readFile: (path: string) => string
  readonly #problems: string[] = []
  readonly #specs = new Map(VARIABLES.map((spec) => [spec.name, spec]))

  constructor (env: Env, readFile: (path: string) => string) {
    this.#env = env
    this.#readFile = readFile
    this.#checkFileVariants()
    for (const problem of unknownVariableProblems(env, VARIABLES)) this.problem(problem)
  }

  problem (message: string): void {
    this.#problems.push(message)
  }

  finish (): void {
    if (this.#problems.length > 0) throw new ConfigError(this.#problems)
  }

  /** Raw value with `_FILE` resolution; `undefined` when unset or empty. */
  #raw (name: string): string | undefined {
    const spec = this.#specs.get(name)
    if (spec === undefined) throw new Error(`BUG: ${name} is not in VARIABLES`)
    const direct = this.#env[name]
    const file = spec.secret === true ? this.#env[`${name}_FILE`] : undefined
    if (direct !== undefined && direct !== '' && file !== undefined && file !== '') {
      this.problem(`Set ${name} or ${name}_FILE, not both.`)
      return undefined
    }
    if (file !== undefined && file !== '') {
      try {
        // Files written by editors and secret stores often end with a newline.
        const content = this.#readFile(file).replace(/\r?\n$/, '')
        if (content === '') this.problem(`${name}_FILE points to an empty file: ${file}.`)
        return content === '' ? undefined : content
      } catch (err) {
        this.problem(`${name}_FILE: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'}).`)
        return undefined
      }
    }
    if (direct === undefined || direct === '') return spec.default
    return direct
  }

  #checkFileVariants (): void {
    for (const name of Object.keys(this.#env)) {
      if (!name.endsWith('_FILE')) continue
      const base = name.slice(0, -'_FILE'.length)
      const spec = this.#specs.get(base)
      if (spec !== undefined && spec.secret !== true) this.problem(`${name} is not supported: only secrets accept _FILE; set ${base} directly.`)
    }
  }

  optionalString (name: string): string | undefined {
    return this.#raw(name)
  }

  /** A file named by a setting (e.g. JWT_ISSUERS_FILE, or a path inside that file); a problem if unreadable. */
  readText (what: string, path: string): string | undefined {
    try {
      return this.#readFile(path).replace(/\r?\n$/, '')
    } catch (err) {
      this.problem(`${what}: cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? 'error'}).`)
      return undefined
    }
  }

  string (name: string): string {
    return this.#raw(name) ?? ''
  }

  #shown (name: string, value: string): string {
    return this.#specs.get(name)?.secret === true ? 'the value given' : `"${value}"`
  }

  optionalInt (name: string, min: number, max: number): number | undefined {
    const raw = this.#raw(name)
    if (raw === undefined) return undefined
    if (!/^\d+$/.test(raw) || Number(raw) < min || Number(raw) > max) {
      this.problem(`${name} must be a whole number from ${min} to ${max}; got ${this.#shown(name, raw)}.`)
      return undefined
    }
    return Number(raw)
  }

  int (name: string, min: number, max: number): number {
    return this.optionalInt(name, min, max) ?? Number(this.#specs.get(name)?.default ?? min)
  }

  bool (name: string): boolean {
    const raw = (this.#raw(name) ?? 'false').toLowerCase()
    if (['true', '1', 'yes'].includes(raw)) return true
    if (['false', '0', 'no'].includes(raw)) return false
    this.problem(`${name} must be true or false; got "${raw}".`)
    return false
  }

  oneOf<T extends string> (name: string, allowed: readonly T[]): T {
    const raw = this.#raw(name) ?? ''
    if ((allowed as readonly string[]).includes(raw)) return raw as T
    this.problem(`${name} must be one of ${allowed.join(', ')}; got "${raw}".`)
    return allowed[0] as T
  }

  claimPath (name: string): string {
    const raw = this.string(name)
    if (!/^[A-Za-z0-9_:$-]+(\.[A-Za-z0-9_:$-]+)*$/.test(raw) || raw.split('.').some((part) => ['__proto__', 'prototype', 'constructor'].includes(part))) {
      this.problem(`${name} must be a claim name or a dotted path such as "user.id"; got "${raw}".`)
    }
    return raw
  }

  queryName (name: string): string {
    const raw = this.string(name)
    if (!/^[A-Za-z0-9_.-]{1,64}$/.test(raw)) this.problem(`${name} must be a query parameter name; got "${raw}".`)
    return raw
  }

  url (name: string, raw: string, allowHttp: boolean): URL | undefined {
    let url: URL
    try {
      url = new URL(raw)
    } catch {
      this.problem(`${name}: "${raw}" is not a URL.`)
      return undefined
    }
    if (url.username !== '' || url.password !== '') {
      this.problem(`${name} must not carry credentials in the URL.`)
      return undefined
    }
    if (url.protocol === 'https:') return url
    if (url.protocol === 'http:' && (allowHttp || isLoopbackHost(url.hostname))) return url
    this.problem(url.protocol === 'http:'
      ? `${name}: ${url.origin} uses http://, allowed only for loopback hosts${name.startsWith('NEXCONN') ? ' or with NEXCONN_ALLOW_HTTP=true' : ''}.`
      : `${name}: ${url.origin} must use https://.`)
    return undefined
  }

  hostPorts (name: string, raw: string): HostPort[] {
    const result: HostPort[] = []
    for (const entry of splitList(raw)) {
      const match = /^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(entry)
      const port = Number(match?.[2])
      if (match === null || port < 1 || port > 65535) {
        this.problem(`${name} entries must be host:port; got "${entry}".`)
        continue
      }
      result.push({ host: (match[1] ?? '').replace(/^\[|\]$/g, ''), port })
    }
    if (splitList(raw).length === 0) this.problem(`${name} must list at least one host:port.`)
    return result
  }
}
