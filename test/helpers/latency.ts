/** Percentiles for the latency figures tests report (t.comment) and, where robust, bound. */
export function percentile (samples: number[], p: number): number {
  if (samples.length === 0) return NaN
  const sorted = [...samples].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN
}

export function summary (samples: number[]): string {
  const round = (n: number): string => n.toFixed(1)
  return `n=${samples.length} p50=${round(percentile(samples, 50))} ms p99=${round(percentile(samples, 99))} ms max=${round(Math.max(...samples))} ms`
}
