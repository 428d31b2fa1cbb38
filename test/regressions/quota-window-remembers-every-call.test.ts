/**
 * Regression: while Redis admitted the calls, each one was also recorded in the in-process window
 * (so a fallback to it starts from the truth), and nothing ever dropped those records: that sweep
 * only ran when the in-process window itself decided, i.e. while Redis was down. One map entry per
 * Nexconn call, for the life of the process. Measured by the heap after a forced GC.
 */
import t from 'tap'
import { heapAfterGc } from '../helpers/heap.ts'
import { MemoryWindow } from '../../src/nexconn/quota-window.ts'

t.test('an hour and a half of calls admitted through Redis (compressed) leaves the in-process window small', async (t) => {
  const window = new MemoryWindow(1_000)
  let now = 0
  let id = 0
  /** `calls` calls at 200/s, each recorded, answered 50 ms later. */
  const run = (calls: number): void => {
    for (let i = 0; i < calls; i++) {
      now += 5
      const slot = `instance:${id++}`
      window.record('/v4/auth/access-token/issue', slot, now)
      window.release('/v4/auth/access-token/issue', slot, true, now + 50)
    }
  }
  run(50_000)
  const early = heapAfterGc()
  run(1_000_000)
  const grown = heapAfterGc() - early
  t.ok(grown < 2 * 1024 * 1024, `the heap grew by ${(grown / 1024 / 1024).toFixed(2)} MiB over a million more calls (an entry each would be ~80 MiB)`)
  t.equal(window.tryAcquire('/v4/auth/access-token/issue', 200, 1, now, (i) => `probe:${i}`).admitted, 0, 'the last second\'s 200 calls still hold every slot of a limit of 200')
})
