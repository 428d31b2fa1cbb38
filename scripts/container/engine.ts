/**
 * The container engine for `npm run test:container`: a Docker daemon that already answers is used
 * as it is; otherwise Debian's docker.io is installed (root only) and a private dockerd is started
 * with its own data root, exec root and socket, and stopped again afterwards together with what it
 * left in the network stack (the docker0 bridge, compose bridges, its iptables chains, ip_forward).
 *
 * The Docker daemon rather than podman: health checks run natively (podman needs systemd timers for
 * them, so compose's `service_healthy` would wait forever here). See ../shared/containers.md.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { createWriteStream, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { homedir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { aptInstall, canInstall } from './apt.ts'
import { capture, log, succeeds } from './exec.ts'

export interface Engine {
  /** The docker CLI to call. */
  docker: string
  /** Environment for docker and compose: DOCKER_HOST, DOCKER_CONFIG, classic builder. */
  env: NodeJS.ProcessEnv
  /** Server version, for the report. */
  version: string
  /** A private daemon (started here or left by an interrupted run), not the machine's own. */
  owned: boolean
  /** Stops what this process started; a no-op for an engine that was already running. */
  stop: () => Promise<void>
}

/** Where rebuildable state lives between runs (images, the compose plugin, apt lists for trixie). */
export const CACHE_DIR = join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'chat-token-broker', 'container')
/** Short paths: unix socket paths are limited to 108 bytes. */
const RUN_DIR = '/run/ctb-docker'

function baseEnv (): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, DOCKER_CONFIG: join(CACHE_DIR, 'docker-config') }
  // The classic builder: BuildKit would need the buildx plugin and pull its own frontend image.
  env.DOCKER_BUILDKIT = '0'
  // CLI hints and telemetry would only add noise and outbound calls.
  env.DOCKER_CLI_HINTS = 'false'
  mkdirSync(env.DOCKER_CONFIG as string, { recursive: true })
  return env
}

async function serverVersion (docker: string, env: NodeJS.ProcessEnv): Promise<string | undefined> {
  try {
    return (await capture([docker, 'version', '--format', '{{.Server.Version}}'], { env, timeoutMs: 15_000 })).trim() || undefined
  } catch {
    return undefined
  }
}

/** Network state before the daemon starts, so that stop() removes only what the daemon added. */
interface NetworkSnapshot { links: Set<string>, chains: Map<string, Set<string>>, ipForward: string }

async function links (): Promise<Set<string>> {
  const out = await capture(['ip', '-o', 'link', 'show'])
  return new Set([...out.matchAll(/^\d+: ([^:@]+)[:@]/gm)].map((m) => m[1] as string))
}

async function iptablesRules (table: string): Promise<string[]> {
  try {
    return (await capture(['iptables', '-t', table, '-S'])).split('\n').filter(Boolean)
  } catch {
    return []
  }
}

async function snapshot (): Promise<NetworkSnapshot> {
  const chains = new Map<string, Set<string>>()
  for (const table of ['filter', 'nat']) chains.set(table, new Set(await iptablesRules(table)))
  const ipForward = existsSync('/proc/sys/net/ipv4/ip_forward') ? readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8').trim() : '0'
  return { links: await links(), chains, ipForward }
}

/** Removes the bridges, rules and chains that appeared since the snapshot, and restores ip_forward. */
async function restoreNetwork (before: NetworkSnapshot): Promise<void> {
  for (const link of await links()) {
    if (!before.links.has(link) && (link === 'docker0' || link.startsWith('br-') || link.startsWith('veth'))) {
      await succeeds(['ip', 'link', 'delete', link])
    }
  }
  for (const table of ['filter', 'nat']) {
    const old = before.chains.get(table) ?? new Set()
    const now = await iptablesRules(table)
    const added = now.filter((rule) => !old.has(rule))
    // dockerd sets the FORWARD policy to DROP: put back every policy it changed.
    for (const policy of [...old].filter((r) => r.startsWith('-P ') && !now.includes(r))) {
      await succeeds(['iptables', '-t', table, ...policy.split(' ')])
    }
    // Rules first (in built-in and new chains), then the new chains themselves.
    for (const rule of added.filter((r) => r.startsWith('-A '))) {
      await succeeds(['iptables', '-t', table, '-D', ...rule.slice(3).split(' ')])
    }
    for (const rule of added.filter((r) => r.startsWith('-N '))) {
      const chain = rule.slice(3)
      await succeeds(['iptables', '-t', table, '-F', chain])
      await succeeds(['iptables', '-t', table, '-X', chain])
    }
  }
  if (existsSync('/proc/sys/net/ipv4/ip_forward')) writeFileSync('/proc/sys/net/ipv4/ip_forward', before.ipForward)
}

async function startDaemon (): Promise<Engine> {
  await aptInstall(['docker.io'])
  const dataRoot = join(CACHE_DIR, 'docker-data')
  mkdirSync(dataRoot, { recursive: true })
  mkdirSync(RUN_DIR, { recursive: true })
  const socket = join(RUN_DIR, 'docker.sock')
  const env = { ...baseEnv(), DOCKER_HOST: `unix://${socket}` }
  // The daemon's own CLI (the machine may have a newer client without the compose plugin).
  const docker = existsSync('/usr/bin/docker') ? '/usr/bin/docker' : 'docker'
  const before = await snapshot()
  const logPath = join(CACHE_DIR, 'dockerd.log')
  log(`starting dockerd (data root ${dataRoot}, socket ${socket}, log ${logPath})`)
  const logStream = createWriteStream(logPath, { flags: 'w' })
  const daemon: ChildProcess = spawn('dockerd', [
    '--data-root', dataRoot,
    '--exec-root', join(RUN_DIR, 'exec'),
    '--pidfile', join(RUN_DIR, 'dockerd.pid'),
    '-H', `unix://${socket}`
  ], { stdio: ['ignore', 'pipe', 'pipe'] })
  daemon.stdout?.pipe(logStream)
  daemon.stderr?.pipe(logStream)
  const exited = new Promise<void>((resolve) => { daemon.once('exit', () => { resolve() }) })

  const stop = async (): Promise<void> => {
    if (daemon.exitCode === null && daemon.signalCode === null) {
      log('stopping dockerd')
      daemon.kill('SIGTERM')
      const timer = setTimeout(() => daemon.kill('SIGKILL'), 30_000)
      await exited
      clearTimeout(timer)
    }
    await restoreNetwork(before)
    rmSync(RUN_DIR, { recursive: true, force: true })
  }

  const deadline = Date.now() + 60_000
  for (;;) {
    const version = await serverVersion(docker, env)
    if (version !== undefined) return { docker, env, version, owned: true, stop }
    if (daemon.exitCode !== null || Date.now() > deadline) {
      await stop()
      throw new Error(`dockerd did not start; its log:\n${readFileSync(logPath, 'utf8').slice(-3000)}`)
    }
    await sleep(500)
  }
}

export type EngineOutcome = { engine: Engine } | { unavailable: string }

/** An engine that answers: the machine's own, or a private daemon started here. */
export async function ensureEngine (): Promise<EngineOutcome> {
  // The machine's daemon (DOCKER_HOST or the default socket), then a private one left running by
  // an interrupted run: either is used as it is and left running.
  const candidates = [{ env: baseEnv(), owned: false }, { env: { ...baseEnv(), DOCKER_HOST: `unix://${join(RUN_DIR, 'docker.sock')}` }, owned: true }]
  for (const { env, owned } of candidates) {
    for (const docker of ['docker', '/usr/bin/docker']) {
      if (!await succeeds(['sh', '-c', `command -v ${docker}`])) continue
      const version = await serverVersion(docker, env)
      if (version !== undefined) return { engine: { docker, env, version, owned, stop: async () => {} } }
    }
  }
  if (!canInstall()) return { unavailable: 'no Docker daemon answers, and installing one (apt-get install docker.io) needs root' }
  return { engine: await startDaemon() }
}
