import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { historyLength, writeResults, type RecordedRun, type Results } from '../src/render.ts';

const committed = new URL('../results/latest.json', import.meta.url);
const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A scratch results directory holding a copy of the committed results. */
function scratch(): { dir: string; results: Results } {
  const dir = mkdtempSync(join(tmpdir(), 'chaos-render-'));
  dirs.push(dir);
  copyFileSync(committed, join(dir, 'latest.json'));
  return { dir, results: JSON.parse(readFileSync(join(dir, 'latest.json'), 'utf8')) as Results };
}

it('keeps every recorded run in the history while a broker\'s column shows its last run', () => {
  const { dir, results } = scratch();
  const [broker, last] = Object.entries(results.runs).find(([, run]) => run !== undefined) as [string, RecordedRun];
  const before = results.history?.length ?? Object.keys(results.runs).length;
  const again: RecordedRun = { ...last, seed: 12_345, startedAt: '2030-01-02T03:04:05.000Z', broken: ['1 confirmed message(s) lost'], figures: { ...last.figures, lost: 1 } };

  const written = writeResults(dir, again);
  expect(written.runs[broker as keyof Results['runs']]?.seed).toBe(12_345);
  expect(written.history?.length).toBe(before + 1);
  expect(written.history?.at(-1)).toMatchObject({ broker, seed: 12_345, lost: 1, broken: ['1 confirmed message(s) lost'] });
  if (results.history === undefined) expect(written.history?.some((entry) => entry.broker === broker && entry.seed === last.seed)).toBe(true);

  const page = readFileSync(join(dir, 'latest.md'), 'utf8');
  expect(page).toContain('## Every run recorded here');
  expect(page).toContain('| 2030-01-02 03:04 | ' + broker + ' |');
  expect(page).toContain('**FAIL**: 1 confirmed message(s) lost');
});

it('keeps only the last runs in the history', () => {
  const { dir, results } = scratch();
  const last = Object.values(results.runs).find((run) => run !== undefined) as RecordedRun;
  let written: Results | undefined;
  for (let seed = 0; seed < historyLength + 5; seed += 1) written = writeResults(dir, { ...last, seed });
  expect(written?.history?.length).toBe(historyLength);
  expect(written?.history?.at(-1)?.seed).toBe(historyLength + 4);
  expect(written?.history?.[0]?.seed).toBe(5);
});
