/** One RSS sample: milliseconds since the start of the measure, and bytes. */
export interface RssSample {
  readonly atMs: number;
  readonly rss: number;
}

/** What the sustained case reports of a process's RSS over time (MiB). */
export interface RssTrend {
  readonly samples: number;
  readonly startMiB: number;
  readonly minMiB: number;
  readonly maxMiB: number;
  readonly endMiB: number;
  /** Least-squares slope over the second half of the samples, MiB per minute. */
  readonly secondHalfSlopeMiBPerMinute: number;
  /** The rise the slope makes over the second half, as a fraction of the second half's mean RSS. */
  readonly secondHalfRise: number;
  /** Whether that rise is above `threshold` (default 5 %): the RSS is still growing once warmed up. */
  readonly grows: boolean;
}

const mib = (bytes: number): number => bytes / 2 ** 20;

/** Least-squares slope of y over x; 0 with fewer than two distinct x. */
export function slope(points: ReadonlyArray<readonly [number, number]>): number {
  const n = points.length;
  if (n < 2) return 0;
  const meanX = points.reduce((sum, [x]) => sum + x, 0) / n;
  const meanY = points.reduce((sum, [, y]) => sum + y, 0) / n;
  let numerator = 0;
  let denominator = 0;
  for (const [x, y] of points) {
    numerator += (x - meanX) * (y - meanY);
    denominator += (x - meanX) ** 2;
  }
  return denominator === 0 ? 0 : numerator / denominator;
}

/**
 * Start, min, max and end of the samples, and whether the RSS still grows: the first half is the
 * warm-up (heap sizing, JIT, buffers reaching their working size); a least-squares line through the
 * second half whose rise over that half exceeds `threshold` of its mean counts as growth.
 */
export function rssTrend(samples: readonly RssSample[], threshold = 0.05): RssTrend {
  if (samples.length === 0) throw new RangeError('no RSS samples');
  const values = samples.map((s) => s.rss);
  const secondHalf = samples.slice(Math.floor(samples.length / 2));
  const perMs = slope(secondHalf.map((s) => [s.atMs, s.rss] as const));
  const span = secondHalf.length > 1 ? secondHalf[secondHalf.length - 1]!.atMs - secondHalf[0]!.atMs : 0;
  const mean = secondHalf.reduce((sum, s) => sum + s.rss, 0) / secondHalf.length;
  const rise = mean > 0 ? (perMs * span) / mean : 0;
  return {
    samples: samples.length,
    startMiB: mib(values[0]!),
    minMiB: mib(Math.min(...values)),
    maxMiB: mib(Math.max(...values)),
    endMiB: mib(values[values.length - 1]!),
    secondHalfSlopeMiBPerMinute: mib(perMs * 60_000),
    secondHalfRise: rise,
    grows: rise > threshold,
  };
}
