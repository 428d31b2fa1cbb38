/**
 * What reached the emulator: counters for assertions on call volume, and a bounded log of recent
 * requests so tests can check exactly what a client sent (headers, body).
 */
import type { EmulatorStats, RecordedRequest } from './types.ts'

const MAX_RECORDED = 1000
const WINDOW_MS = 1000

function bump (counter: Record<string, number>, key: string): void {
  counter[key] = (counter[key] ?? 0) + 1
}

/** Per endpoint call rate, in both fixed wall-clock seconds and a sliding 1000 ms window. */
class PeakTracker {
  peakFixed = 0
  peakSliding = 0
  #bucket = -1
  #bucketCount = 0
  #recent: number[] = []

  record (at: number): void {
    const bucket = Math.floor(at / WINDOW_MS)
    if (bucket !== this.#bucket) {
      this.#bucket = bucket
      this.#bucketCount = 0
    }
    this.#bucketCount += 1
    this.peakFixed = Math.max(this.peakFixed, this.#bucketCount)
    while (this.#recent.length > 0 && (this.#recent[0] ?? 0) <= at - WINDOW_MS) this.#recent.shift()
    this.#recent.push(at)
    this.peakSliding = Math.max(this.peakSliding, this.#recent.length)
  }
}

export class StatsRecorder {
  #calls: Record<string, number> = {}
  #succeeded: Record<string, number> = {}
  #callsByUser: Record<string, number> = {}
  #rejected: Record<string, number> = {}
  #peaks = new Map<string, PeakTracker>()
  #byPort: number[]
  #requests: RecordedRequest[] = []
  #portCount: number

  constructor (portCount: number) {
    this.#portCount = portCount
    this.#byPort = new Array<number>(portCount).fill(0)
  }

  received (port: number): void {
    this.#byPort[port] = (this.#byPort[port] ?? 0) + 1
  }

  /** A request reached a known endpoint (whatever happens to it next). */
  call (path: string, at: number): void {
    bump(this.#calls, path)
    let tracker = this.#peaks.get(path)
    if (!tracker) {
      tracker = new PeakTracker()
      this.#peaks.set(path, tracker)
    }
    tracker.record(at)
  }

  succeeded (path: string, issuedFor: string | undefined): void {
    bump(this.#succeeded, path)
    if (issuedFor !== undefined) bump(this.#callsByUser, issuedFor)
  }

  rejected (code: number): void {
    bump(this.#rejected, String(code))
  }

  record (entry: RecordedRequest): void {
    this.#requests.push(entry)
    if (this.#requests.length > MAX_RECORDED) this.#requests.shift()
  }

  requests (): RecordedRequest[] {
    return this.#requests.map((r) => ({ ...r, headers: { ...r.headers } }))
  }

  snapshot (registeredUsers: number): EmulatorStats {
    const peakPerSecond: Record<string, number> = {}
    const peakSliding: Record<string, number> = {}
    for (const [path, tracker] of this.#peaks) {
      peakPerSecond[path] = tracker.peakFixed
      peakSliding[path] = tracker.peakSliding
    }
    return {
      calls: { ...this.#calls },
      succeeded: { ...this.#succeeded },
      callsByUser: { ...this.#callsByUser },
      peakPerSecond,
      peakSliding,
      byPort: [...this.#byPort],
      registeredUsers,
      rejected: { ...this.#rejected },
    }
  }

  clear (): void {
    this.#calls = {}
    this.#succeeded = {}
    this.#callsByUser = {}
    this.#rejected = {}
    this.#peaks.clear()
    this.#byPort = new Array<number>(this.#portCount).fill(0)
    this.#requests = []
  }
}
