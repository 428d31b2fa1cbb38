/**
 * Debian packages for the container tests (docker.io, mmdebstrap, chromium), installed with apt
 * when missing. `apt-get update` runs at most once per process.
 */
import { existsSync } from 'node:fs'
import { capture, log, show } from './exec.ts'

let updated = false

export function canInstall (): boolean {
  return process.getuid?.() === 0 && existsSync('/usr/bin/apt-get')
}

/** dpkg-query's format for a package's status ("install ok installed"). */
const STATUS_FORMAT = '-f=$' + '{Status}'

export async function isInstalled (pkg: string): Promise<boolean> {
  try {
    return (await capture(['dpkg-query', '-W', STATUS_FORMAT, pkg])).includes('install ok installed')
  } catch {
    return false
  }
}

/** dpkg takes one install at a time: concurrent callers queue here. */
let queue: Promise<void> = Promise.resolve()

/** Installs the packages that are not installed yet; a no-op when all are. */
export async function aptInstall (packages: string[]): Promise<void> {
  const turn = queue.then(async () => { await install(packages) })
  queue = turn.catch(() => {})
  await turn
}

async function install (packages: string[]): Promise<void> {
  const missing: string[] = []
  for (const pkg of packages) if (!await isInstalled(pkg)) missing.push(pkg)
  if (missing.length === 0) return
  if (!canInstall()) throw new Error(`missing Debian packages ${missing.join(', ')} and not root with apt-get to install them`)
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }
  if (!updated) {
    log('apt-get update')
    await show(['apt-get', 'update', '-qq'], { env })
    updated = true
  }
  log(`apt-get install ${missing.join(' ')}`)
  await show(['apt-get', 'install', '-y', '-qq', '--no-install-recommends', ...missing], { env, stdio: ['ignore', 'ignore', 'inherit'] })
}
