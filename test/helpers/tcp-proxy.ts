/**
 * A TCP proxy on loopback that a test can cut and restore: one replica loses Redis while the others
 * keep it (a network partition), without stopping Redis itself.
 */
import { createServer, connect, type Socket } from 'node:net'

interface Teardown { teardown: (fn: () => unknown) => void }

export interface TcpProxy {
  readonly port: number
  /** Drops every open connection and refuses new ones until `restore`. */
  cut: () => void
  restore: () => void
}

export async function startTcpProxy (t: Teardown, target: { host: string, port: number }): Promise<TcpProxy> {
  const sockets = new Set<Socket>()
  let open = true
  const server = createServer((client) => {
    if (!open) { client.destroy(); return }
    const upstream = connect(target.port, target.host)
    sockets.add(client).add(upstream)
    const drop = (): void => {
      client.destroy()
      upstream.destroy()
      sockets.delete(client)
      sockets.delete(upstream)
    }
    client.on('error', drop).on('close', drop)
    upstream.on('error', drop).on('close', drop)
    client.pipe(upstream).pipe(client)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  t.teardown(async () => {
    for (const socket of sockets) socket.destroy()
    await new Promise((resolve) => server.close(resolve))
  })
  return {
    port: typeof address === 'object' && address !== null ? address.port : 0,
    cut: () => {
      open = false
      for (const socket of sockets) socket.destroy()
      sockets.clear()
    },
    restore: () => { open = true }
  }
}
