/** The live heap after a forced full GC, for memory regression tests (no timing involved). */
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'

setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc') as () => void

export function heapAfterGc (): number {
  gc()
  gc()
  return process.memoryUsage().heapUsed
}
