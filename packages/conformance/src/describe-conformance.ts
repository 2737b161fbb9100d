import type { ConformanceAdapter } from '@micro-framework/core/testing';
import { afterAll, describe } from 'vitest';
import { deliveryScenarios } from './scenarios/delivery.ts';
import { lifecycleScenarios } from './scenarios/lifecycle.ts';
import { routeScenarios } from './scenarios/routes.ts';
import { rpcScenarios } from './scenarios/rpc.ts';

/**
 * Registers the whole conformance suite (../CONFORMANCE.md scenarios 1–28) for one adapter, inside a
 * vitest file. Scenarios whose capability is off are reported as skipped with the adapter's reason.
 */
export function describeConformance(adapter: ConformanceAdapter): void {
  describe(`conformance: ${adapter.name}`, () => {
    afterAll(async () => {
      await adapter.close?.();
    });
    deliveryScenarios(adapter);
    routeScenarios(adapter);
    lifecycleScenarios(adapter);
    rpcScenarios(adapter);
  });
}
