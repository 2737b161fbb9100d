// Module constants rather than static class fields: the compiled probes run this file as JavaScript.
const growth = 1.01;
const minMs = 0.001;
const buckets = Math.ceil(Math.log(1e6 / minMs) / Math.log(growth)) + 1;

function bucketOf(ms: number): number {
  if (!(ms > minMs)) return 0;
  const index = Math.ceil(Math.log(ms / minMs) / Math.log(growth));
  return Math.min(buckets - 1, index);
}

function upperBound(index: number): number {
  return minMs * growth ** index;
}

/**
 * Latencies in a fixed array of logarithmic buckets (each about 1 % wide, from 1 µs to about 1,000 s),
 * so recording millions of them over a sustained run allocates nothing: the recorder must not make
 * the RSS it is there to watch grow. A percentile is the upper bound of the bucket it falls in
 * (at most about 1 % above the exact value).
 */
export class LatencyHistogram {
  readonly #counts = new Float64Array(buckets);
  count = 0;
  /** Recorded values below zero (clamped to the first bucket): clocks of two processes disagreeing. */
  negatives = 0;
  maxMs = 0;

  /** Records one latency in milliseconds. */
  record(ms: number): void {
    if (ms < 0) this.negatives += 1;
    this.maxMs = Math.max(this.maxMs, ms);
    this.#counts[bucketOf(ms)]! += 1;
    this.count += 1;
  }

  /** The p-th percentile (0–100) by nearest rank, as its bucket's upper bound (never above the max seen). */
  percentile(p: number): number {
    if (this.count === 0) throw new RangeError('no values');
    const rank = Math.min(this.count, Math.max(1, Math.ceil((p / 100) * this.count)));
    let seen = 0;
    for (let i = 0; i < this.#counts.length; i += 1) {
      seen += this.#counts[i]!;
      if (seen >= rank) return Math.min(this.maxMs, upperBound(i));
    }
    return this.maxMs;
  }
}
