import { isOurs, type Figure } from './report.ts';

/**
 * One condition of a goal, checked on the medians of one run: an absolute bound on ours, a factor of
 * the raw client's figure, or a factor of the best peer framework's figure (same broker and measure).
 */
export type Condition =
  | { readonly kind: 'at most'; readonly value: number }
  | { readonly kind: 'raw'; readonly factor: number }
  | { readonly kind: 'best peer'; readonly factor: number };

/** A performance goal (issue #16) and, for when it is not met, what prevents it according to the profiles. */
export interface Goal {
  readonly broker: RegExp;
  /** Matches exactly one measure of the broker. */
  readonly measure: RegExp;
  readonly label: string;
  readonly conditions: readonly Condition[];
  readonly prevents: string;
}

/** How one condition fared: the figure it needed, ours, and the share of the way (1 = met exactly). */
export interface ConditionResult {
  readonly condition: Condition;
  readonly needed: number;
  readonly ours: number;
  readonly met: boolean;
  /** Ours as a share of what was needed (throughput), or needed as a share of ours (latency, memory). */
  readonly share: number;
  /** The reference the condition was computed from (raw client or best peer), when it has one. */
  readonly reference?: Figure;
}

export interface GoalResult {
  readonly goal: Goal;
  readonly ours?: Figure;
  readonly conditions: readonly ConditionResult[];
  /** Why the goal could not be checked: a figure missing from this run. */
  readonly missing?: string;
}

const better = (ours: Figure, a: number, b: number): boolean => (ours.higherIsBetter ? a >= b : a <= b);

function check(condition: Condition, ours: Figure, others: readonly Figure[]): ConditionResult | string {
  const value = ours.summary.median;
  let needed: number;
  let reference: Figure | undefined;
  if (condition.kind === 'at most') {
    needed = condition.value;
  } else if (condition.kind === 'raw') {
    reference = others.find((f) => f.contestant.includes('(raw)'));
    if (!reference) return 'no raw client figure';
    needed = reference.summary.median * condition.factor;
  } else {
    const peers = others.filter((f) => !isOurs(f) && !f.contestant.includes('(raw)'));
    if (peers.length === 0) return 'no peer figure (run without --without-peers)';
    reference = peers.reduce((best, f) => (better(ours, f.summary.median, best.summary.median) ? f : best));
    needed = reference.summary.median * condition.factor;
  }
  const higher = condition.kind !== 'at most' && ours.higherIsBetter;
  // "Below every peer" (latency, factor 1) is strict: a tie is not below.
  const met = higher ? value >= needed : condition.kind === 'best peer' && condition.factor === 1 ? value < needed : value <= needed;
  const share = higher ? value / needed : needed / value;
  return { condition, needed, ours: value, met, share, ...(reference ? { reference } : {}) };
}

/** Checks each goal against the figures of one run. */
export function checkGoals(goals: readonly Goal[], figures: readonly Figure[]): GoalResult[] {
  return goals.map((goal) => {
    const same = figures.filter((f) => goal.broker.test(f.broker) && goal.measure.test(f.measure));
    const ours = same.find(isOurs);
    if (!ours) return { goal, conditions: [], missing: 'not measured in this run' };
    const conditions: ConditionResult[] = [];
    for (const condition of goal.conditions) {
      const result = check(condition, ours, same.filter((f) => f !== ours));
      if (typeof result === 'string') return { goal, ours, conditions, missing: result };
      conditions.push(result);
    }
    return { goal, ours, conditions };
  });
}

const number = (value: number): string => (value >= 100 ? Math.round(value).toLocaleString('en-US') : value.toFixed(2));

function conditionText(result: ConditionResult, ours: Figure): string {
  const { condition } = result;
  const sign = condition.kind === 'at most' || !ours.higherIsBetter ? '≤' : '≥';
  if (condition.kind === 'at most') return `${sign} ${number(condition.value)}`;
  const reference = result.reference ? `${result.reference.contestant} ${number(result.reference.summary.median)}, ${number(result.reference.summary.min)}–${number(result.reference.summary.max)}` : '?';
  const of = condition.kind === 'raw' ? `raw (${reference})` : `the best peer (${reference})`;
  if (condition.kind === 'best peer' && condition.factor === 1 && !ours.higherIsBetter) return `below ${of}: < ${number(result.needed)}`;
  return `${sign} ${condition.factor}× ${of}: ${sign} ${number(result.needed)}`;
}

/** The goals section of the results: one row per condition, then what prevents each goal not met. */
export function goalsSection(results: readonly GoalResult[]): string[] {
  if (results.length === 0) return [];
  const lines = [
    '## Goals',
    '',
    'The goals of issue #16, checked on this run\'s medians. "Share" is ours as a share of the figure needed (throughput), or the figure needed as a share of ours (latency, memory): 100 % or more meets it.',
    '',
    '| goal | condition (reference: median, min–max) | this run: median (min–max) | share | met |',
    '|---|---|---|---|---|',
  ];
  const unmet: string[] = [];
  for (const result of results) {
    const { goal, ours } = result;
    if (result.missing !== undefined || !ours) {
      lines.push(`| ${goal.label} | – | ${result.missing ?? 'not measured'} | – | – |`);
      continue;
    }
    for (const condition of result.conditions) {
      lines.push(`| ${goal.label} | ${conditionText(condition, ours)} | ${number(condition.ours)} ${ours.unit} (${number(ours.summary.min)}–${number(ours.summary.max)}) | ${Math.round(condition.share * 100)} % | ${condition.met ? 'yes' : 'no'} |`);
    }
    if (result.conditions.some((c) => !c.met)) unmet.push(`- **${goal.label}**: ${goal.prevents}`);
  }
  if (unmet.length > 0) lines.push('', 'What prevents each goal not met, from the profiles named:', '', ...unmet);
  return lines;
}
