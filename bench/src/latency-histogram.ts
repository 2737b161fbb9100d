/**
 * Latencies in a fixed array of logarithmic buckets (each about 1 % wide, from 1 µs to about 1,000 s),
 * so recording millions of them over a sustained run allocates nothing: the recorder must not make
 * the RSS it is there to watch grow. A percentile is the upper bound of the bucket it falls in
 * (at most about 1 % above the exact value).
 */
export class LatencyHistogram {
  static readonly #growth = 1.01;
  static readonly #minMs = 0.001;
  static readonly #buckets = Math.ceil(Math.log(1e6 / LatencyHistogram.#minMs) / Math.log(LatencyHistogram.#growth)) + 1;
  readonly #counts = new Float64Array(LatencyHistogram.#buckets);
  count = 0;
  /** Recorded values below zero (clamped to the first bucket): clocks of two processes disagreeing. */
  negatives = 0;
  maxMs = 0;

  /** Records one latency in milliseconds. */
  record(ms: number): void {
    if (ms < 0) this.negatives += 1;
    this.maxMs = Math.max(this.maxMs, ms);
    this.#counts[LatencyHistogram.#bucketOf(ms)]! += 1;
    this.count += 1;
  }

  static #bucketOf(ms: number): number {
    if (!(ms > LatencyHistogram.#minMs)) return 0;
    const index = Math.ceil(Math.log(ms / LatencyHistogram.#minMs) / Math.log(LatencyHistogram.#growth));
    return Math.min(LatencyHistogram.#buckets - 1, index);
  }

  static #upperBound(index: number): number {
    return LatencyHistogram.#minMs * LatencyHistogram.#growth ** index;
  }

  /** The p-th percentile (0–100) by nearest rank, as its bucket's upper bound (never above the max seen). */
  percentile(p: number): number {
    if (this.count === 0) throw new RangeError('no values');
    const rank = Math.min(this.count, Math.max(1, Math.ceil((p / 100) * this.count)));
    let seen = 0;
    for (let i = 0; i < this.#counts.length; i += 1) {
      seen += this.#counts[i]!;
      if (seen >= rank) return Math.min(this.maxMs, LatencyHistogram.#upperBound(i));
    }
    return this.maxMs;
  }
}
