/**
 * The heap a broker really holds: a full garbage collection forced through the V8 inspector, then
 * `process.memoryUsage()` read inside the process. The broker runs with `--inspect` on a loopback
 * port for this and is otherwise started as in production (no `--expose-gc`, no code of ours in it).
 */

export interface HeapFigures {
  heapUsedMiB: number
  heapTotalMiB: number
  externalMiB: number
  rssMiB: number
}

const MIB = 2 ** 20

/** Connects to the inspector on `port`, forces a full GC, and reads the process's memory figures. */
export async function heapAfterGc (port: number): Promise<HeapFigures> {
  const targets = await (await fetch(`http://127.0.0.1:${port}/json/list`)).json() as Array<{ webSocketDebuggerUrl: string }>
  const url = targets[0]?.webSocketDebuggerUrl
  if (url === undefined) throw new Error(`no inspector target on port ${port}`)
  const socket = new WebSocket(url)
  await new Promise((resolve, reject) => {
    socket.addEventListener('open', resolve, { once: true })
    socket.addEventListener('error', reject, { once: true })
  })
  let nextId = 0
  const call = async (method: string, params: object = {}): Promise<any> => {
    const id = ++nextId
    const answer = new Promise((resolve, reject) => {
      const onMessage = (event: MessageEvent): void => {
        const message = JSON.parse(String(event.data)) as { id?: number, result?: unknown, error?: { message: string } }
        if (message.id !== id) return
        socket.removeEventListener('message', onMessage)
        if (message.error !== undefined) reject(new Error(`${method}: ${message.error.message}`))
        else resolve(message.result)
      }
      socket.addEventListener('message', onMessage)
    })
    socket.send(JSON.stringify({ id, method, params }))
    return await answer
  }
  try {
    // Twice: the first collection can leave garbage that only finalizers and weak callbacks release.
    await call('HeapProfiler.collectGarbage')
    await call('HeapProfiler.collectGarbage')
    const evaluated = await call('Runtime.evaluate', { expression: 'JSON.stringify(process.memoryUsage())', returnByValue: true })
    const usage = JSON.parse(evaluated.result.value as string) as NodeJS.MemoryUsage
    return { heapUsedMiB: usage.heapUsed / MIB, heapTotalMiB: usage.heapTotal / MIB, externalMiB: usage.external / MIB, rssMiB: usage.rss / MIB }
  } finally {
    socket.close()
  }
}
