/**
 * Docker Compose v2 for the container tests. docker-compose.yml needs Compose 2.24.0 or later
 * (`env_file` entries with `required: false`); Debian bookworm only ships v1, which rejects the
 * file. When `docker compose` is missing or older, the plugin is taken from Debian trixie's
 * `docker-compose` package with a private apt configuration (the system's sources stay untouched)
 * and installed under $DOCKER_CONFIG/cli-plugins, where the docker CLI looks for plugins.
 */
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { aptInstall } from './apt.ts'
import { CACHE_DIR, type Engine } from './engine.ts'
import { capture, log, show } from './exec.ts'

/** The oldest Compose that runs docker-compose.yml; stated in its header and the README. */
export const MIN_COMPOSE_VERSION = '2.24.0'

export function compareVersions (a: string, b: string): number {
  const pa = a.split('.').map((n) => Number.parseInt(n, 10) || 0)
  const pb = b.split('.').map((n) => Number.parseInt(n, 10) || 0)
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0)
    if (d !== 0) return Math.sign(d)
  }
  return 0
}

export async function composeVersion (engine: Engine): Promise<string | undefined> {
  try {
    const out = await capture([engine.docker, 'compose', 'version', '--short'], { env: engine.env, timeoutMs: 15_000 })
    return out.trim().replace(/^v/, '') || undefined
  } catch {
    return undefined
  }
}

/** The Debian mirror the machine already uses (deb.debian.org by default). */
export function debianMirror (): string {
  const texts: string[] = []
  for (const file of ['/etc/apt/sources.list']) {
    try { texts.push(readFileSync(file, 'utf8')) } catch { /* absent */ }
  }
  try {
    for (const name of readdirSync('/etc/apt/sources.list.d')) texts.push(readFileSync(join('/etc/apt/sources.list.d', name), 'utf8'))
  } catch { /* absent */ }
  for (const text of texts) {
    const match = /(?:^URIs:\s*|^deb\s+(?:\[[^\]]*\]\s+)?)(https?:\/\/\S+\/debian)\/?\s*$/m.exec(text) ??
      /(?:^URIs:\s*|^deb\s+(?:\[[^\]]*\]\s+)?)(https?:\/\/\S+\/debian)\/?\s/m.exec(text)
    if (match?.[1] !== undefined) return match[1]
  }
  return 'http://deb.debian.org/debian'
}

async function installPluginFromTrixie (engine: Engine): Promise<void> {
  await aptInstall(['apt'])
  const aptDir = join(CACHE_DIR, 'apt-trixie')
  for (const dir of ['lists/partial', 'archives/partial']) mkdirSync(join(aptDir, dir), { recursive: true })
  writeFileSync(join(aptDir, 'sources.list'), `deb ${debianMirror()} trixie main\n`)
  const options = [
    '-o', `Dir::Etc::SourceList=${join(aptDir, 'sources.list')}`,
    '-o', 'Dir::Etc::SourceParts=/nonexistent',
    '-o', `Dir::State::Lists=${join(aptDir, 'lists')}`,
    '-o', `Dir::Cache::Archives=${join(aptDir, 'archives')}`,
    '-o', `Dir::Cache::pkgcache=${join(aptDir, 'pkgcache.bin')}`,
    '-o', `Dir::Cache::srcpkgcache=${join(aptDir, 'srcpkgcache.bin')}`
  ]
  log('fetching docker-compose (Compose v2) from Debian trixie')
  await show(['apt-get', ...options, 'update', '-qq'])
  const work = mkdtempSync(join(tmpdir(), 'ctb-compose-'))
  try {
    await capture(['apt-get', ...options, 'download', 'docker-compose'], { cwd: work })
    const deb = readdirSync(work).find((name) => name.endsWith('.deb'))
    if (deb === undefined) throw new Error('apt-get download docker-compose produced no .deb')
    await capture(['dpkg-deb', '-x', join(work, deb), join(work, 'root')])
    const plugins = join(engine.env.DOCKER_CONFIG as string, 'cli-plugins')
    mkdirSync(plugins, { recursive: true })
    copyFileSync(join(work, 'root', 'usr', 'libexec', 'docker', 'cli-plugins', 'docker-compose'), join(plugins, 'docker-compose'))
    chmodSync(join(plugins, 'docker-compose'), 0o755)
  } finally {
    rmSync(work, { recursive: true, force: true })
  }
}

/** Makes `docker compose` available at MIN_COMPOSE_VERSION or later; returns its version. */
export async function ensureCompose (engine: Engine): Promise<string> {
  let version = await composeVersion(engine)
  if (version === undefined || compareVersions(version, MIN_COMPOSE_VERSION) < 0) {
    log(version === undefined ? 'docker compose is missing' : `docker compose ${version} is older than ${MIN_COMPOSE_VERSION}`)
    await installPluginFromTrixie(engine)
    version = await composeVersion(engine)
  }
  if (version === undefined || compareVersions(version, MIN_COMPOSE_VERSION) < 0) {
    throw new Error(`docker compose ${version ?? '(none)'} found; docker-compose.yml needs ${MIN_COMPOSE_VERSION} or later`)
  }
  return version
}
