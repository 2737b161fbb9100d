import { summarize, type Summary } from './stats.ts';

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

export function markdown(figures: readonly Figure[], header: Record<string, string>, notes: readonly string[]): string {
  const lines = ['# @micro-framework benchmark', ''];
  for (const [name, value] of Object.entries(header)) lines.push(`- **${name}**: ${value}`);
  lines.push('', '| broker | measure | contestant | median | min–max | × raw | settings |', '|---|---|---|---|---|---|---|');
  for (const f of figures) {
    const ratio = f.ratioToRaw === undefined ? '' : `${f.ratioToRaw.toFixed(2)}×`;
    lines.push(`| ${f.broker} | ${f.measure} (${f.unit}) | ${f.contestant} | ${round(f.summary.median)} | ${round(f.summary.min)}–${round(f.summary.max)} | ${ratio} | ${f.settings} |`);
  }
  if (notes.length > 0) lines.push('', '## Notes', '', ...notes.map((note) => `- ${note}`));
  return `${lines.join('\n')}\n`;
}
