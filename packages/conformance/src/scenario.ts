import type { CapabilityName, ConformanceAdapter } from '@micro-framework/core/testing';
import { it } from 'vitest';
import { Harness } from './harness.ts';

export type ScenarioBody = (harness: Harness) => Promise<void>;

/**
 * Registers one scenario. When a capability it needs is off, it is registered as skipped with the
 * adapter's stated protocol reason in its title, so every report shows why.
 */
export function scenario(
  adapter: ConformanceAdapter,
  title: string,
  needs: readonly CapabilityName[],
  body: ScenarioBody,
  timeoutMs = 60_000,
): void {
  const missing = needs.filter((capability) => !adapter.capabilities[capability]);
  if (missing.length > 0) {
    const reasons = missing.map((capability) => `${capability}: ${adapter.reasons[capability] ?? 'no reason stated'}`);
    it.skip(`${title} [skipped: ${reasons.join('; ')}]`, () => undefined);
    return;
  }
  it(title, async () => {
    const harness = new Harness(adapter);
    try {
      await body(harness);
    } finally {
      await harness.cleanup();
    }
  }, timeoutMs);
}
