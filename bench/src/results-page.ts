import { checkGoals, goalsSection } from './goals.ts';
import { explainPeerLead, explainShortfall, memoryNotes } from './limits.ts';
import { performanceGoals } from './performance-goals.ts';
import { behindPeers, markdown, shortfalls, type Figure } from './report.ts';
import type { SustainedResult } from './sustained.ts';

/** The notes of a run: failed cases first, then every shortfall and peer lead with its reason, memory, what peers lack. */
export function resultNotes(figures: readonly Figure[], failures: readonly string[], unsupported: readonly string[]): string[] {
  return [...failures.map((text) => `FAILED: ${text}`), ...shortfalls(figures).map(explainShortfall), ...behindPeers(figures).map(explainPeerLead), ...memoryNotes(figures), ...unsupported];
}

/** The results page of a run (latest.md), its goals checked. */
export function resultsPage(figures: readonly Figure[], header: Record<string, string>, notes: readonly string[], sustained: readonly SustainedResult[]): string {
  return markdown(figures, header, notes, sustained, goalsSection(checkGoals(performanceGoals, figures)));
}
