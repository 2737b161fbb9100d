import type { DeadLetter, KeyedOrder } from './broker-driver.ts';
import type { ConsumerExit } from './consumer-process.ts';
import type { Fault } from './fault-schedule.ts';
import type { JournalRecord } from './journal.ts';
import { expectedOutcome, type ExpectedOutcome, type PlannedMessage } from './messages.ts';
import type { PublishOutcome } from './publishers.ts';
import type { RpcFigures } from './rpc-caller.ts';

/** A fault as it was carried out: when it began and when the orchestrator had undone it (epoch ms). */
export interface FaultRecord {
  readonly fault: Fault;
  readonly startedAt: number;
  readonly endedAt: number;
}

/** Everything a run observed; figures are computed from it alone. */
export interface RunObservations {
  readonly plan: readonly PlannedMessage[];
  readonly published: PublishOutcome;
  readonly records: readonly JournalRecord[];
  readonly tornJournalLines: number;
  readonly deadLetters: readonly DeadLetter[];
  readonly rpc: RpcFigures;
  readonly faults: readonly FaultRecord[];
  readonly keyedOrder: KeyedOrder;
  readonly peakRssBytes: number;
  readonly consumerExits: readonly ConsumerExit[];
  readonly incarnations: number;
  /** How the wait for the queues to drain ended. */
  readonly drain: { readonly endedBy: 'drained' | 'idle' | 'deadline'; readonly ms: number };
}

/** One fault and how long the service took to process a message again once it was over. */
export interface RecoveryFigure {
  readonly fault: Fault;
  /** ms after publishing began. */
  readonly startedAtMs: number;
  readonly lastedMs: number;
  /** ms from the end of the fault to the first message processed after it; null if none came. */
  readonly recoveryMs: number | null;
}

export interface Figures {
  readonly planned: number;
  readonly confirmedPublished: number;
  readonly unconfirmed: number;
  readonly publishRetries: number;
  /** Unique ids the target processed successfully (event and keyed routes). */
  readonly processed: number;
  /** Successful target runs beyond the first per id (at least once: allowed, counted). */
  readonly duplicates: number;
  /** Unique ids handled by a callback that succeeded, and callback runs in all (including failed ones). */
  readonly callbacksHandled: number;
  readonly callbackRuns: number;
  /** Dead letters by reason (each copy counted; `copies` > `ids` means a message was dead-lettered twice). */
  readonly deadLettered: { readonly copies: number; readonly ids: number; readonly byReason: Record<string, number>; readonly withoutId: number; readonly unsafeHeaders: number };
  /** Confirmed, yet neither processed, handled by a callback nor dead-lettered. */
  readonly lost: number;
  readonly lostIds: readonly string[];
  /** Messages that ended, but not where their kind should have (an ok message dead-lettered, say), by "expected → got". */
  readonly unexpectedOutcomes: Record<string, number>;
  readonly unexpectedExamples: readonly string[];
  /** Per-key order on the keyed route: judged only where the broker has the capability. */
  readonly keyedOrder: { readonly judged: boolean; readonly reason?: string; readonly keysChecked: number; readonly keysSkipped: number; readonly violations: number };
  /** RPC outcomes; `failureTimes` here are ms after publishing began. */
  readonly rpc: RpcFigures & { readonly handledByTarget: number };
  readonly peakRssBytes: number;
  readonly recovery: readonly RecoveryFigure[];
  readonly consumer: { readonly incarnations: number; readonly unexpectedExits: readonly ConsumerExit[] };
  readonly journal: { readonly records: number; readonly tornLines: number };
  readonly timings: { readonly publishSeconds: number; readonly confirmedPerSecond: number; readonly drainSeconds: number; readonly drainEndedBy: string };
}

function bump(counts: Record<string, number>, key: string): void {
  counts[key] = (counts[key] ?? 0) + 1;
}

/**
 * Per key, the keyed route's first successful processing of each message in time order; a message
 * whose position is below one already processed is a violation. Keys with a dead-lettered message
 * are skipped (their order has a hole by design).
 */
function keyedOrderViolations(records: readonly JournalRecord[], deadIds: ReadonlySet<string>, plan: readonly PlannedMessage[]) {
  const skipped = new Set(plan.filter((m) => m.key !== undefined && deadIds.has(m.id)).map((m) => m.key!));
  const firsts = new Map<string, JournalRecord>();
  for (const record of records) {
    if (record.route !== 'keyed' || record.outcome !== 'ok' || record.key === undefined) continue;
    const seen = firsts.get(record.id);
    if (!seen || record.t < seen.t) firsts.set(record.id, record);
  }
  const byKey = new Map<string, JournalRecord[]>();
  for (const record of firsts.values()) {
    if (skipped.has(record.key!)) continue;
    byKey.set(record.key!, [...(byKey.get(record.key!) ?? []), record]);
  }
  let violations = 0;
  for (const list of byKey.values()) {
    list.sort((a, b) => a.t - b.t);
    let highest = -1;
    for (const record of list) {
      const seq = record.seq ?? 0;
      if (seq < highest) violations += 1;
      highest = Math.max(highest, seq);
    }
  }
  return { keysChecked: byKey.size, keysSkipped: skipped.size, violations };
}

/** Computes the figures of a run from what it observed. */
export function computeFigures(observed: RunObservations): Figures {
  const { plan, published, records, deadLetters } = observed;
  const processedRecords = records.filter((r) => (r.route === 'event' || r.route === 'keyed') && r.outcome === 'ok');
  const processedIds = new Set(processedRecords.map((r) => r.id));
  const callbackRecords = records.filter((r) => r.route === 'callback');
  const callbackIds = new Set(callbackRecords.filter((r) => r.outcome === 'ok').map((r) => r.id));

  const byReason: Record<string, number> = {};
  const deadReasons = new Map<string, Set<string>>();
  let withoutId = 0;
  let unsafeHeaders = 0;
  for (const letter of deadLetters) {
    const reason = letter.headers['x-dead-letter-reason'] ?? 'unknown';
    bump(byReason, reason);
    if (Object.values(letter.headers).some((value) => /[\r\n]/.test(value))) unsafeHeaders += 1;
    if (letter.id === undefined) {
      withoutId += 1;
      continue;
    }
    deadReasons.set(letter.id, (deadReasons.get(letter.id) ?? new Set()).add(reason));
  }

  const lostIds: string[] = [];
  const unexpectedOutcomes: Record<string, number> = {};
  const unexpectedExamples: string[] = [];
  for (const message of plan) {
    if (!published.confirmed.has(message.id)) continue;
    const got: ExpectedOutcome[] = [];
    if (processedIds.has(message.id)) got.push('processed');
    if (callbackIds.has(message.id)) got.push('callback');
    for (const reason of deadReasons.get(message.id) ?? []) got.push(`dead-letter:${reason}` as ExpectedOutcome);
    if (got.length === 0) {
      lostIds.push(message.id);
      continue;
    }
    const expected = expectedOutcome[message.kind];
    if (got.length !== 1 || got[0] !== expected) {
      const key = `${expected} → ${got.join(' + ')}`;
      bump(unexpectedOutcomes, key);
      if (unexpectedExamples.length < 20) unexpectedExamples.push(`${message.id} (${message.channel}, ${message.kind}): ${key}`);
    }
  }

  const order = keyedOrderViolations(records, new Set(deadReasons.keys()), plan);
  const startedAt = published.startedAt;
  const messageTimes = records.filter((r) => r.route !== 'rpc').map((r) => r.t).sort((a, b) => a - b);
  const recovery = observed.faults.map(({ fault, startedAt: began, endedAt }): RecoveryFigure => {
    const first = messageTimes.find((t) => t >= endedAt);
    return { fault, startedAtMs: began - startedAt, lastedMs: endedAt - began, recoveryMs: first === undefined ? null : first - endedAt };
  });
  const publishSeconds = (published.endedAt - published.startedAt) / 1_000;

  return {
    planned: plan.length,
    confirmedPublished: published.confirmed.size,
    unconfirmed: published.unconfirmed.length,
    publishRetries: published.retries,
    processed: processedIds.size,
    duplicates: processedRecords.length - processedIds.size,
    callbacksHandled: callbackIds.size,
    callbackRuns: callbackRecords.length,
    deadLettered: { copies: deadLetters.length, ids: deadReasons.size, byReason, withoutId, unsafeHeaders },
    lost: lostIds.length,
    lostIds: lostIds.slice(0, 50),
    unexpectedOutcomes,
    unexpectedExamples,
    keyedOrder: observed.keyedOrder.on ? { judged: true, ...order } : { judged: false, reason: observed.keyedOrder.reason, ...order },
    rpc: {
      ...observed.rpc,
      failureTimes: Object.fromEntries(Object.entries(observed.rpc.failureTimes).map(([name, times]) => [name, times.map((t) => t - startedAt)])),
      handledByTarget: records.filter((r) => r.route === 'rpc').length,
    },
    peakRssBytes: observed.peakRssBytes,
    recovery,
    consumer: { incarnations: observed.incarnations, unexpectedExits: observed.consumerExits.filter((exit) => !exit.expected) },
    journal: { records: records.length, tornLines: observed.tornJournalLines },
    timings: {
      publishSeconds,
      confirmedPerSecond: publishSeconds > 0 ? Math.round(published.confirmed.size / publishSeconds) : 0,
      drainSeconds: observed.drain.ms / 1_000,
      drainEndedBy: observed.drain.endedBy,
    },
  };
}

/**
 * The rule of issue #13: nothing lost, no RPC call hung, and no order violation where order is
 * promised; and no RPC answer or error that says something false (a wrong result, RpcTargetNotFound
 * for the target that always exists), since a caller acts on it.
 */
export function ruleBroken(figures: Figures): string[] {
  const broken: string[] = [];
  if (figures.lost > 0) broken.push(`${figures.lost} confirmed message(s) lost`);
  if (figures.rpc.hung > 0) broken.push(`${figures.rpc.hung} RPC call(s) hung`);
  if (figures.rpc.wrongAnswer > 0) broken.push(`${figures.rpc.wrongAnswer} RPC call(s) answered wrongly`);
  if (figures.rpc.misleading > 0) broken.push(`${figures.rpc.misleading} RPC call(s) failed with RpcTargetNotFound for a target that exists`);
  if (figures.keyedOrder.judged && figures.keyedOrder.violations > 0) broken.push(`${figures.keyedOrder.violations} per-key order violation(s)`);
  return broken;
}
