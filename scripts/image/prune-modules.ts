/**
 * For the image's deps stage: removes from an installed node_modules what no running program
 * reads — type declarations, source maps, Markdown (licence files are kept), and the test,
 * example, benchmark and CI folders that packages publish — so the runtime layer holds only code
 * and the assets packages load (the docs UI's static files, for instance). Folders named `types`
 * or `dist` are kept: some packages keep runtime modules there.
 *
 *   node scripts/image/prune-modules.ts node_modules
 *
 * Runs with Node alone. Prints how much it removed.
 */
import { lstatSync, readdirSync, rmSync } from 'node:fs'
import { join } from 'node:path'

const DROPPED_DIRS = new Set(['test', 'tests', '__tests__', 'example', 'examples', 'bench', 'benchmark', 'benchmarks', 'docs', '.github'])
const DROPPED_FILES = /\.(d\.[cm]?ts|map|md|markdown)$/i
const KEPT_FILES = /^(licen[cs]e|notice|copying)/i

export interface PruneResult { files: number, bytes: number }

/** Removes the dropped files and folders under `dir` (a node_modules folder). */
export function pruneModules (dir: string): PruneResult {
  const result: PruneResult = { files: 0, bytes: 0 }
  const visit = (path: string, insidePackage: boolean): void => {
    for (const entry of readdirSync(path, { withFileTypes: true })) {
      const full = join(path, entry.name)
      if (entry.isDirectory()) {
        // Package folders themselves (node_modules/<name>, @scope/<name>) are never dropped by name.
        const isPackageRoot = !insidePackage || entry.name === 'node_modules'
        if (insidePackage && DROPPED_DIRS.has(entry.name)) {
          result.bytes += size(full, result)
          rmSync(full, { recursive: true, force: true })
          continue
        }
        const nextInside = entry.name === 'node_modules' ? false : (isPackageRoot && !entry.name.startsWith('@')) || insidePackage
        visit(full, nextInside)
      } else if (insidePackage && DROPPED_FILES.test(entry.name) && !KEPT_FILES.test(entry.name)) {
        result.bytes += lstatSync(full).size
        result.files++
        rmSync(full, { force: true })
      }
    }
  }
  visit(dir, false)
  return result
}

function size (path: string, result: PruneResult): number {
  const stat = lstatSync(path)
  if (!stat.isDirectory()) {
    result.files++
    return stat.size
  }
  let total = 0
  for (const name of readdirSync(path)) total += size(join(path, name), result)
  return total
}

if (import.meta.main) {
  const dir = process.argv[2] ?? 'node_modules'
  const { files, bytes } = pruneModules(dir)
  process.stdout.write(`pruned ${dir}: ${files} files, ${(bytes / 1024 / 1024).toFixed(1)} MiB\n`)
}
