import { summarize, type Summary } from './stats.ts';
import type { SustainedResult } from './sustained.ts';

/** One measured figure of one contestant. */
export interface Figure {
  readonly broker: string;
  readonly measure: string;
  readonly unit: string;
  readonly contestant: string;
  readonly settings: string;
  readonly summary: Summary;
  /** Median divided by the raw client's median (same broker and measure), when there is one. */
  ratioToRaw?: number;
  /** Whether a higher figure is better (throughput) or worse (latency). */
  readonly higherIsBetter: boolean;
}

export function figure(parts: Omit<Figure, 'summary' | 'ratioToRaw'>, samples: number[]): Figure {
  return { ...parts, summary: summarize(samples) };
}

/** Sets ratioToRaw on every figure that has a raw contestant for the same broker and measure. */
export function addRatios(figures: Figure[]): void {
  for (const f of figures) {
    const raw = figures.find((g) => g.broker === f.broker && g.measure === f.measure && g.contestant.includes('(raw)'));
    if (raw && raw.summary.median > 0) f.ratioToRaw = f.summary.median / raw.summary.median;
  }
}

const round = (value: number): string => (value >= 100 ? Math.round(value).toLocaleString('en-US') : value.toFixed(2));

/** Whether a figure is one of ours (a @micro-framework adapter), not a raw client nor a peer framework. */
export const isOurs = (f: Figure): boolean => f.contestant.startsWith('@micro-framework');

/** Our figures below 0.9× raw (throughput) or above 1.1× raw (latency). */
export function shortfalls(figures: readonly Figure[]): Figure[] {
  return figures.filter((f) => isOurs(f) && f.ratioToRaw !== undefined && (f.higherIsBetter ? f.ratioToRaw < 0.9 : f.ratioToRaw > 1.1));
}

/** A peer framework's figure that beats ours on the same broker and measure. */
export interface PeerLead {
  readonly ours: Figure;
  readonly peer: Figure;
}

/** Every (ours, peer) pair of a broker and measure where the peer's median is better than ours. */
export function behindPeers(figures: readonly Figure[]): PeerLead[] {
  const leads: PeerLead[] = [];
  for (const ours of figures.filter(isOurs)) {
    for (const peer of figures) {
      if (peer.broker !== ours.broker || peer.measure !== ours.measure || isOurs(peer) || peer.contestant.includes('(raw)')) continue;
      const better = ours.higherIsBetter ? peer.summary.median > ours.summary.median : peer.summary.median < ours.summary.median;
      if (better) leads.push({ ours, peer });
    }
  }
  return leads;
}

/** Whether a figure belongs to the failure-cost case (its own section of the results). */
export const isFailureCost = (f: Figure): boolean => f.measure.startsWith('failure cost');

function figureTable(figures: readonly Figure[]): string[] {
  const lines = ['| broker | measure | contestant | median | min–max | × raw | settings |', '|---|---|---|---|---|---|---|'];
  for (const f of figures) {
    const ratio = f.ratioToRaw === undefined ? '' : `${f.ratioToRaw.toFixed(2)}×`;
    lines.push(`| ${f.broker} | ${f.measure} (${f.unit}) | ${f.contestant} | ${round(f.summary.median)} | ${round(f.summary.min)}–${round(f.summary.max)} | ${ratio} | ${f.settings} |`);
  }
  return lines;
}

/** The sustained case's section: one row per broker, then its RSS samples. */
export function sustainedSection(results: readonly SustainedResult[]): string[] {
  const lines = [
    '## Sustained load',
    '',
    'Our service (a child process, one no-op route) under a fixed publish rate, scheduled by absolute time. Latency runs from the publish (a wall-clock `sentAt` in the payload) to the start of the handler. A service that does not keep up shows it twice: latency growing with its backlog, and a long wait after the last publish until every message was handled. RSS is the service process\'s, sampled over the run; "grows" means a least-squares line through the second half of the samples rises by more than 5 % of their mean over that half.',
    '',
    '| broker | target rate (msg/s) | achieved (msg/s) | published | latency p50 / p99 / p99.9 / max (ms) | all handled after the last publish (s) | RSS start / min / max / end (MiB) | RSS second half (MiB/min) | grows | settings |',
    '|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const r of results) {
    const achieved = `${Math.round(r.achievedRate).toLocaleString('en-US')}${r.behind ? ` (behind schedule, up to ${r.maxLagMs.toFixed(0)} ms)` : ''}`;
    const latency = [r.latency.p50, r.latency.p99, r.latency.p999, r.latency.max].map((v) => v.toFixed(2)).join(' / ');
    const rss = [r.rss.startMiB, r.rss.minMiB, r.rss.maxMiB, r.rss.endMiB].map((v) => v.toFixed(0)).join(' / ');
    const failure = r.failure ? ` **FAILED: ${r.failure}**` : '';
    lines.push(
      `| ${r.broker} | ${Math.round(r.targetRate).toLocaleString('en-US')} (${r.rateSource}) | ${achieved} | ${r.published.toLocaleString('en-US')} in ${r.seconds} s | ${latency} | ${(r.catchUpMs / 1_000).toFixed(2)} | ${rss} | ${r.rss.secondHalfSlopeMiBPerMinute.toFixed(2)} | ${r.rss.grows ? 'yes' : 'no'} | ${r.settings}; ${r.received.toLocaleString('en-US')} handled, ${r.duplicates} duplicates${failure} |`,
    );
  }
  lines.push('', 'RSS samples (s: MiB):', '');
  for (const r of results) lines.push(`- ${r.broker}: ${r.rssSamples.map(([s, m]) => `${s}: ${m}`).join(', ')}`);
  return lines;
}

/** The results page: header, figures, failure cost, sustained load, the goals section when given, notes. */
export function markdown(figures: readonly Figure[], header: Record<string, string>, notes: readonly string[], sustained: readonly SustainedResult[] = [], goals: readonly string[] = []): string {
  const lines = ['# @micro-framework benchmark', ''];
  for (const [name, value] of Object.entries(header)) lines.push(`- **${name}**: ${value}`);
  const main = figures.filter((f) => !isFailureCost(f));
  const failureCost = figures.filter(isFailureCost);
  if (main.length > 0) lines.push('', ...figureTable(main));
  if (failureCost.length > 0) {
    lines.push(
      '',
      '## Failure cost',
      '',
      'Every 100th message (ids 0, 100, 200...) fails on its first attempt and succeeds on its retry; the time runs from the start of the consumer until every id was handled successfully (distinct ids counted: a contestant that loses one fails the case). Each contestant retries with what it has on that broker (its settings say how).',
      '',
      ...figureTable(failureCost),
    );
  }
  if (sustained.length > 0) lines.push('', ...sustainedSection(sustained));
  if (goals.length > 0) lines.push('', ...goals);
  if (notes.length > 0) lines.push('', '## Notes', '', ...notes.map((note) => `- ${note}`));
  return `${lines.join('\n')}\n`;
}
