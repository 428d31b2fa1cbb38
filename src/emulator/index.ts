/**
 * Nexconn Platform API emulator: a stateful fake of the server API on real HTTP ports, used as the test
 * double of every test, as the backend of `npm run dev`, and standalone (`npm run emulator`).
 *
 *   const emu = await startEmulator({ ports: [0, 0] })   // primary + backup sharing one state
 *   emu.addFault({ kind: 'status', status: 503, port: 0, times: 1 })
 *   …
 *   await emu.close()
 */
import { createCore } from './core.ts'
import { PortListener, urlFor } from './listener.ts'
import { createRequestListener } from './server.ts'
import type { Emulator, EmulatorOptions } from './types.ts'

export type {
  Emulator,
  EmulatorOptions,
  EmulatorStats,
  FaultKind,
  FaultSpec,
  RecordedRequest,
  TokenStatus,
  UserProfile,
} from './types.ts'
export { sign } from './signature.ts'
export { DEFAULT_RATE_LIMITS } from './rate-limit.ts'
export {
  EXPIRE_PATH,
  ISSUE_PATH,
  LEGACY_EXPIRE_PATH,
  LEGACY_GET_TOKEN_PATH,
  USER_GET_PATH,
  USER_RESTORE_PATH,
  USER_SOFT_DELETE_PATH,
  USER_UPDATE_PATH,
} from './routes.ts'

export async function startEmulator (opts: EmulatorOptions = {}): Promise<Emulator> {
  const host = opts.host ?? '127.0.0.1'
  const ports = opts.ports ?? [0]
  if (ports.length === 0) throw new TypeError('ports must list at least one port')
  const core = createCore(opts, ports.length)
  const listeners = ports.map((port, index) => new PortListener(host, port, createRequestListener(core, index)))
  let closed = false

  try {
    // Sequential so that a fixed port list binds in order and a failure leaves a clear culprit.
    for (const listener of listeners) await listener.start()
  } catch (err) {
    await Promise.all(listeners.map((l) => l.stop()))
    throw err
  }
  const urls = listeners.map((l) => urlFor(host, l.port))
  core.logger.debug({ urls, appKey: core.appKey }, 'Nexconn emulator listening')

  function listenerAt (portIndex: number): PortListener {
    const listener = listeners[portIndex]
    if (!listener) throw new RangeError(`no port at index ${portIndex} (have ${listeners.length})`)
    return listener
  }

  return {
    urls,
    appKey: core.appKey,
    get appSecret () {
      return core.appSecret
    },
    stats: () => core.stats.snapshot(core.state.registeredUsers),
    requests: () => core.stats.requests(),
    reset: () => core.reset(),
    addFault: (f) => core.faults.add(f),
    clearFaults: () => core.faults.clear(),
    tokenStatus: (token) => core.state.tokenStatus(token),
    user: (userId) => core.state.user(userId),
    async pause (portIndex) {
      await listenerAt(portIndex).stop()
    },
    async resume (portIndex) {
      if (closed) throw new Error('emulator is closed')
      await listenerAt(portIndex).start()
    },
    setAppSecret: (secret) => core.setAppSecret(secret),
    softDelete: (userIds) => { core.state.softDelete(userIds) },
    restore: (userIds) => { core.state.restore(userIds) },
    async close () {
      if (closed) return
      closed = true
      core.lifetime.abort()
      await Promise.all(listeners.map((l) => l.stop()))
      core.logger.debug('Nexconn emulator closed')
    },
  }
}
