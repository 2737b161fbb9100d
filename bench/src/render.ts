/** Re-renders bench/results/latest.md from latest.json (after a change of wording, without re-measuring). */
import { readFileSync, writeFileSync } from 'node:fs';
import type { Figure } from './report.ts';
import { resultNotes, resultsPage } from './results-page.ts';
import type { SustainedResult } from './sustained.ts';

const results = new URL('../results/', import.meta.url);
const data = JSON.parse(readFileSync(new URL('latest.json', results), 'utf8')) as { header: Record<string, string>; figures: Figure[]; sustained?: SustainedResult[]; failures?: string[]; notes: string[]; unsupported: string[] };
data.notes = resultNotes(data.figures, data.failures ?? [], data.unsupported);
writeFileSync(new URL('latest.json', results), `${JSON.stringify(data, null, 2)}\n`);
writeFileSync(new URL('latest.md', results), resultsPage(data.figures, data.header, data.notes, data.sustained ?? []));
