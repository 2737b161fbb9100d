/** Re-renders bench/results/latest.md from latest.json (after a change of wording, without re-measuring). */
import { readFileSync, writeFileSync } from 'node:fs';
import { checkGoals, goalsSection } from './goals.ts';
import { explainPeerLead, explainShortfall, memoryNotes } from './limits.ts';
import { behindPeers, markdown, shortfalls, type Figure } from './report.ts';
import { performanceGoals } from './performance-goals.ts';
import type { SustainedResult } from './sustained.ts';

const results = new URL('../results/', import.meta.url);
const data = JSON.parse(readFileSync(new URL('latest.json', results), 'utf8')) as { header: Record<string, string>; figures: Figure[]; sustained?: SustainedResult[]; failures?: string[]; notes: string[]; unsupported: string[] };
data.notes = [...(data.failures ?? []).map((text) => `FAILED: ${text}`), ...shortfalls(data.figures).map(explainShortfall), ...behindPeers(data.figures).map(explainPeerLead), ...memoryNotes(data.figures), ...data.unsupported];
writeFileSync(new URL('latest.json', results), `${JSON.stringify(data, null, 2)}\n`);
writeFileSync(new URL('latest.md', results), markdown(data.figures, data.header, data.notes, data.sustained ?? [], goalsSection(checkGoals(performanceGoals, data.figures))));
