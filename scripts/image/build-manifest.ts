/**
 * For the image's build stage: rewrites package.json and package-lock.json in place (in the build
 * stage's copy, never in the repository) so that `npm ci` installs the production dependencies and
 * the build toolchain only — the compiler and Node's type declarations, at the exact versions and
 * integrity hashes the lockfile pins — instead of every dev dependency (the test runner, linters,
 * Helm and Kubernetes schemas: ~700 MB that `tsc` never reads).
 *
 *   node scripts/image/build-manifest.ts && npm ci
 *
 * The lockfile is trimmed to what the kept dependencies reach under Node's resolution, so npm ci
 * still finds package.json and the lockfile in sync. Runs with Node alone: no dependency.
 */
import { readFileSync, writeFileSync } from 'node:fs'

/** Dev dependencies `npm run build` (tsc -p tsconfig.build.json) needs. */
export const BUILD_TOOLCHAIN = ['@typescript/native', '@types/node']

type Deps = Record<string, string>
interface Manifest { dependencies?: Deps, devDependencies?: Deps, optionalDependencies?: Deps, peerDependencies?: Deps, [key: string]: unknown }
interface LockEntry extends Manifest { peerDependenciesMeta?: Record<string, { optional?: boolean }> }
interface Lockfile { lockfileVersion: number, packages: Record<string, LockEntry>, [key: string]: unknown }

function pick (deps: Deps | undefined, names: string[]): Deps | undefined {
  if (deps === undefined) return undefined
  const kept = Object.fromEntries(Object.entries(deps).filter(([name]) => names.includes(name)))
  return Object.keys(kept).length === 0 ? undefined : kept
}

/** Where Node finds `name` from the package at `location` ('' is the root): nearest node_modules first. */
function resolve (packages: Lockfile['packages'], location: string, name: string): string | undefined {
  let base = location
  for (;;) {
    const candidate = base === '' ? `node_modules/${name}` : `${base}/node_modules/${name}`
    if (packages[candidate] !== undefined) return candidate
    if (base === '') return undefined
    const cut = base.lastIndexOf('node_modules/')
    base = cut <= 0 ? '' : base.slice(0, cut - 1)
  }
}

/** package.json and lockfile with only the production dependencies and `keepDev`. */
export function trimForBuild (manifest: Manifest, lock: Lockfile, keepDev: string[] = BUILD_TOOLCHAIN): { manifest: Manifest, lock: Lockfile } {
  if (lock.lockfileVersion < 2) throw new Error('package-lock.json v2 or later expected (npm 7+)')
  const missing = keepDev.filter((name) => manifest.devDependencies?.[name] === undefined)
  if (missing.length > 0) throw new Error(`not dev dependencies in package.json: ${missing.join(', ')}`)
  const devDependencies = pick(manifest.devDependencies, keepDev)
  const newManifest: Manifest = { ...manifest, devDependencies }
  const root = lock.packages[''] ?? {}
  const newRoot: LockEntry = { ...root, devDependencies: pick(root.devDependencies, keepDev) }

  const reached = new Set<string>([''])
  const queue: string[] = ['']
  while (queue.length > 0) {
    const location = queue.shift() as string
    const entry = location === '' ? newRoot : lock.packages[location] as LockEntry
    const names = [
      ...Object.keys(entry.dependencies ?? {}),
      ...Object.keys(entry.optionalDependencies ?? {}),
      ...Object.keys(entry.peerDependencies ?? {}),
      ...(location === '' ? Object.keys(newRoot.devDependencies ?? {}) : [])
    ]
    for (const name of names) {
      const found = resolve(lock.packages, location, name)
      // Optional and optional-peer dependencies may be absent from the lockfile (other platforms).
      if (found === undefined || reached.has(found)) continue
      reached.add(found)
      queue.push(found)
    }
  }
  const packages: Lockfile['packages'] = {}
  for (const [location, entry] of Object.entries(lock.packages)) {
    if (reached.has(location)) packages[location] = location === '' ? newRoot : entry
  }
  return { manifest: newManifest, lock: { ...lock, packages } }
}

if (import.meta.main) {
  const manifest = JSON.parse(readFileSync('package.json', 'utf8')) as Manifest
  const lock = JSON.parse(readFileSync('package-lock.json', 'utf8')) as Lockfile
  const trimmed = trimForBuild(manifest, lock)
  writeFileSync('package.json', JSON.stringify(trimmed.manifest, null, 2) + '\n')
  writeFileSync('package-lock.json', JSON.stringify(trimmed.lock, null, 2) + '\n')
  process.stdout.write(`build manifest: ${Object.keys(trimmed.lock.packages).length - 1} of ${Object.keys(lock.packages).length - 1} locked packages (production + ${BUILD_TOOLCHAIN.join(', ')})\n`)
}
