import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
import type { BrokerName } from '../src/broker-driver.ts';
import { runChaos } from '../src/orchestrator.ts';
import { randomSeed } from '../src/prng.ts';
import { recordRun, writeResults, type Results } from '../src/render.ts';

/** How long one short run may take in a test (start of the broker, 25 s of faults, drain, stop). */
export const shortRunTimeoutMs = 240_000;

/**
 * The CI short run of issue #13 on one broker: 2,000 messages, one kill, one broker restart, one 10 s
 * cut, with a random seed each time (CHAOS_SEED replays one; the seed is in every failure message).
 * Asserts the rule (nothing lost, no RPC call hung, per-key order kept where the broker keeps it:
 * `orderJudged`),
 * that poison reached the dead letters with its reason and that the results files are written.
 */
export async function shortRunHolds(broker: BrokerName, expected: { readonly orderJudged: boolean }): Promise<void> {
  const seed = process.env['CHAOS_SEED'] ? Number(process.env['CHAOS_SEED']) : randomSeed();
  const lines: string[] = [];
  const run = await runChaos({ broker, messages: 2_000, seconds: 25, seed, short: true, drainTimeoutMs: 60_000, log: (line) => lines.push(line) });
  const f = run.figures;
  console.log([...lines, `lost ${f.lost}, hung ${f.rpc.hung}, duplicates ${f.duplicates}, order violations ${f.keyedOrder.violations} (judged: ${f.keyedOrder.judged}), dead letters ${JSON.stringify(f.deadLettered.byReason)}`].join('\n'));

  const verdict = { seed, lost: f.lost, lostIds: f.lostIds, hung: f.rpc.hung, hungIds: f.rpc.hungIds, orderViolations: f.keyedOrder.judged ? f.keyedOrder.violations : 0, broken: run.broken, runDir: run.runDir };
  expect(verdict).toEqual({ seed, lost: 0, lostIds: [], hung: 0, hungIds: [], orderViolations: 0, broken: [], runDir: undefined });
  expect(f.keyedOrder.judged, `seed ${seed}: per-key order judged where the broker keeps it`).toBe(expected.orderJudged);
  if (expected.orderJudged) expect(f.keyedOrder.keysChecked, `seed ${seed}: keys were judged`).toBeGreaterThan(0);
  expect(f.confirmedPublished, `seed ${seed}: every publish confirmed`).toBe(2_000);
  expect(f.recovery.map((r) => r.fault.kind).sort()).toEqual(['cut', 'kill', 'restart-broker']);
  // Poison reached the dead-letter destination with its reason, and the callback handled the exhausted ones.
  expect(f.deadLettered.byReason['decode'] ?? 0, `seed ${seed}`).toBeGreaterThan(0);
  expect(f.deadLettered.byReason['exhausted'] ?? 0, `seed ${seed}`).toBeGreaterThan(0);
  expect(f.deadLettered.unsafeHeaders, `seed ${seed}: no CR/LF in dead-letter headers`).toBe(0);
  expect(f.callbacksHandled, `seed ${seed}`).toBeGreaterThan(0);

  // The results files are written and merged (here into a scratch directory, not reliability/results).
  const out = mkdtempSync(join(tmpdir(), 'chaos-results-'));
  try {
    writeResults(out, recordRun(run, process.cwd()));
    const written = JSON.parse(readFileSync(join(out, 'latest.json'), 'utf8')) as Results;
    expect(written.runs[broker]?.figures.lost).toBe(0);
    expect(readFileSync(join(out, 'latest.md'), 'utf8')).toContain('| **lost** | **0** |');
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}
