import type { ConformanceAdapter } from '@micro-framework/core/testing';
import { afterAll, describe } from 'vitest';
import { deliveryScenarios } from './scenarios/delivery.ts';
import { failureScenarios } from './scenarios/failure.ts';
import { lifecycleScenarios } from './scenarios/lifecycle.ts';
import { routeScenarios } from './scenarios/routes.ts';
import { rpcScenarios } from './scenarios/rpc.ts';
import { telemetryScenarios } from './scenarios/telemetry.ts';

/** How many times the suite runs in a row: CONFORMANCE_REPEAT (default 1). */
export function conformanceRounds(value = process.env['CONFORMANCE_REPEAT']): number {
  const rounds = Number(value ?? 1);
  if (!Number.isInteger(rounds) || rounds < 1) throw new RangeError(`CONFORMANCE_REPEAT must be a whole number >= 1, got ${value}`);
  return rounds;
}

/**
 * Registers the whole conformance suite (scenarios 1–39, see the README) for one adapter, inside a
 * vitest file, CONFORMANCE_REPEAT times in a row. Scenarios whose capability is off are reported as
 * skipped with the adapter's reason.
 */
export function describeConformance(adapter: ConformanceAdapter): void {
  const rounds = conformanceRounds();
  describe(`conformance: ${adapter.name}`, () => {
    afterAll(async () => {
      await adapter.close?.();
    });
    for (let round = 1; round <= rounds; round += 1) {
      describe(rounds > 1 ? `round ${round} of ${rounds}` : 'scenarios', () => {
        deliveryScenarios(adapter);
        routeScenarios(adapter);
        lifecycleScenarios(adapter);
        rpcScenarios(adapter);
        failureScenarios(adapter);
        telemetryScenarios(adapter);
      });
    }
  });
}
