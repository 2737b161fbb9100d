import { appendFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { JournalWriter, journalFileName, readJournals } from '../src/journal.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

it('reads back every record of every incarnation, and counts a torn last line apart', () => {
  const dir = mkdtempSync(join(tmpdir(), 'chaos-journal-'));
  dirs.push(dir);
  const first = new JournalWriter(join(dir, journalFileName(1)));
  first.append({ route: 'event', id: 'm1', outcome: 'ok', attempt: 1 });
  first.append({ route: 'keyed', id: 'm2', outcome: 'ok', attempt: 1, key: 'k0-1', seq: 0 });
  first.close();
  // A process killed in the middle of a write leaves half a line.
  appendFileSync(join(dir, journalFileName(1)), '{"t":1,"route":"ev');
  const second = new JournalWriter(join(dir, journalFileName(2)));
  second.append({ route: 'rpc', id: 'rpc1', outcome: 'failed', attempt: 1 });
  second.close();

  const { records, torn } = readJournals(dir);
  expect(records.map((r) => [r.route, r.id, r.outcome])).toEqual([
    ['event', 'm1', 'ok'],
    ['keyed', 'm2', 'ok'],
    ['rpc', 'rpc1', 'failed'],
  ]);
  expect(records[1]).toMatchObject({ key: 'k0-1', seq: 0, pid: process.pid });
  expect(torn).toBe(1);
});
