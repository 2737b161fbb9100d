import { describe, expect, it } from 'vitest';
import type { DeadLetter } from '../src/broker-driver.ts';
import { computeFigures, ruleBroken, type RunObservations } from '../src/figures.ts';
import type { JournalRecord } from '../src/journal.ts';
import type { PlannedMessage } from '../src/messages.ts';

const plan: PlannedMessage[] = [
  { id: 'm0', channel: 'events', kind: 'ok', publisher: 0 },
  { id: 'm1', channel: 'events', kind: 'throw-always', publisher: 1 },
  { id: 'm2', channel: 'events', kind: 'bad-json', publisher: 0 },
  { id: 'm3', channel: 'keyed', kind: 'ok', publisher: 1, key: 'k1-0', seq: 0 },
  { id: 'm4', channel: 'keyed', kind: 'ok', publisher: 1, key: 'k1-0', seq: 1 },
  { id: 'm5', channel: 'events', kind: 'ok', publisher: 0 },
  { id: 'm6', channel: 'events', kind: 'ok', publisher: 1 },
  { id: 'm7', channel: 'events', kind: 'ok', publisher: 0 },
];
const record = (t: number, route: JournalRecord['route'], id: string, extra: Partial<JournalRecord> = {}): JournalRecord => ({ t, pid: 1, route, id, outcome: 'ok', attempt: 1, ...extra });
const dead = (id: string, reason: string): DeadLetter => ({ id, channel: 'events', headers: { 'x-dead-letter-reason': reason, 'x-chaos-id': id } });

function observations(keyedOrderOn: boolean): RunObservations {
  return {
    plan,
    // m7 was never confirmed: whatever happened to it, it is not lost.
    published: { confirmed: new Map(plan.filter((m) => m.id !== 'm7').map((m) => [m.id, 0])), unconfirmed: ['m7'], retries: 3, startedAt: 1_000, endedAt: 3_000 },
    records: [
      record(1_100, 'event', 'm0'),
      record(1_200, 'event', 'm0'), // a duplicate
      record(1_300, 'event', 'm1', { outcome: 'failed' }),
      record(1_400, 'callback', 'm1'),
      record(1_500, 'keyed', 'm4', { key: 'k1-0', seq: 1 }),
      record(1_600, 'keyed', 'm3', { key: 'k1-0', seq: 0 }), // after m4: out of order
      record(2_500, 'event', 'm6'),
      record(2_600, 'rpc', 'rpc0'),
    ],
    tornJournalLines: 0,
    // m2 as expected; m6 processed and also dead-lettered: counted as an unexpected outcome, not lost.
    deadLetters: [dead('m2', 'decode'), dead('m6', 'give-back-limit')],
    rpc: { calls: 2, ok: 1, wrongAnswer: 0, misleading: 0, remoteErrorAsked: 0, failedTyped: { RpcTimeout: 1 }, failedUntyped: {}, hung: 0, hungIds: [], failureTimes: { RpcTimeout: [1_500] }, timeoutMs: 2_000 },
    faults: [{ fault: { kind: 'cut', atMs: 1_000, durationMs: 1_000 }, startedAt: 2_000, endedAt: 2_400 }],
    keyedOrder: keyedOrderOn ? { on: true } : { on: false, reason: 'no ordering key' },
    peakRssBytes: 100 * 2 ** 20,
    consumerExits: [],
    incarnations: 1,
    drain: { endedBy: 'drained', ms: 10 },
  };
}

describe('figures', () => {
  it('counts lost, duplicates, callbacks, dead letters and unexpected outcomes from what was confirmed', () => {
    const f = computeFigures(observations(false));
    expect(f.confirmedPublished).toBe(7);
    expect(f.lostIds).toEqual(['m5']);
    expect(f.processed).toBe(4);
    expect(f.duplicates).toBe(1);
    expect(f.callbacksHandled).toBe(1);
    expect(f.deadLettered.byReason).toEqual({ decode: 1, 'give-back-limit': 1 });
    expect(f.unexpectedOutcomes).toEqual({ 'processed → processed + dead-letter:give-back-limit': 1 });
    expect(f.recovery[0]?.recoveryMs).toBe(100);
    expect(f.rpc.failureTimes).toEqual({ RpcTimeout: [500] });
  });

  it('judges per-key order only where the broker keeps it', () => {
    expect(computeFigures(observations(false)).keyedOrder).toMatchObject({ judged: false, violations: 1 });
    const judged = computeFigures(observations(true));
    expect(judged.keyedOrder).toMatchObject({ judged: true, violations: 1, keysChecked: 1 });
    expect(ruleBroken(judged)).toEqual(['1 confirmed message(s) lost', '1 per-key order violation(s)']);
  });
});
