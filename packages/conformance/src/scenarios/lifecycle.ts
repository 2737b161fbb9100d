import type { ConformanceAdapter } from '@micro-framework/core/testing';
import { describe, expect } from 'vitest';
import { staysQuiet, waitFor } from '../poll.ts';
import { scenario } from '../scenario.ts';

const indexOf = (payload: unknown): number => (payload as { i: number }).i;

/** Scenarios 18–23: stop, faults and churn. */
export function lifecycleScenarios(adapter: ConformanceAdapter): void {
  describe('lifecycle and faults', () => {
    scenario(adapter, '18 graceful stop: in-flight calls finish and are acked, the rest go to the next instance', ['competingConsumers', 'durable'], async (h) => {
      const spec = h.spec('graceful');
      const finished: number[] = [];
      const handler = async (payload: unknown) => {
        await new Promise((resolve) => setTimeout(resolve, 2_000));
        finished.push(indexOf(payload));
      };
      const first = await h.startService(spec.serviceName, [h.listenerRoute({ spec, handler, instance: 'first' })], 2);
      for (let i = 0; i < 10; i += 1) await h.publishJson(spec.channel, { i });
      await waitFor(() => h.calls.length >= 1, 'the first call');
      await new Promise((resolve) => setTimeout(resolve, 500));
      const stopBegan = performance.now();
      await first.stop({ timeoutMs: 10_000 });
      const firstCalls = h.callsFor((c) => c.instance === 'first');
      expect(firstCalls.length).toBeGreaterThan(0);
      expect(firstCalls.length).toBeLessThanOrEqual(2);
      expect(firstCalls.every((c) => c.at < stopBegan)).toBe(true);
      expect(finished.length).toBe(firstCalls.length);
      await h.startService(spec.serviceName, [h.listenerRoute({ spec, handler, instance: 'second' })], 10);
      await waitFor(() => new Set(finished).size >= 10, 'all 10 finished');
      expect(await staysQuiet(() => h.calls.length > 10, 500)).toBe(true);
      expect(new Set(h.calls.map((c) => indexOf(c.payload))).size).toBe(10);
      expect(h.calls).toHaveLength(10);
    });

    scenario(adapter, '19 stop timeout: a call that never ends is abandoned unacked and delivered again', ['competingConsumers', 'durable'], async (h) => {
      const spec = h.spec('stoptimeout');
      let release: () => void = () => undefined;
      const never = new Promise<void>((resolve) => { release = resolve; });
      h.onCleanup(() => release());
      const stuck = await h.startService(spec.serviceName, [h.listenerRoute({ spec, instance: 'stuck', handler: () => never })], 1);
      await h.publishJson(spec.channel, { i: 1 });
      await waitFor(() => h.calls.length >= 1, 'the stuck call');
      const began = performance.now();
      await stuck.stop({ timeoutMs: 1_000 });
      expect(performance.now() - began).toBeLessThan(1_500);
      await h.startService(spec.serviceName, [h.listenerRoute({ spec, instance: 'next' })]);
      await waitFor(() => h.callsFor((c) => c.instance === 'next').length >= 1, 'the redelivery', 30_000);
      const again = h.callsFor((c) => c.instance === 'next')[0];
      expect(indexOf(again?.payload)).toBe(1);
      expect(again?.meta.redelivered).toBe(true);
    });

    scenario(adapter, '20 consumer killed: a message whose consumer process died is handled again, as a redelivery', ['consumerProcessKill', 'durable'], async (h) => {
      const spec = h.spec('killed');
      const child = await adapter.spawnConsumerProcess!(spec);
      await h.publishJson(spec.channel, { i: 1 });
      await child.handling;
      await child.kill();
      await h.startService(spec.serviceName, [h.listenerRoute({ spec })]);
      await waitFor(() => h.calls.length >= 1, 'the redelivery', 60_000);
      expect(indexOf(h.calls[0]?.payload)).toBe(1);
      expect(h.calls[0]?.meta.redelivered).toBe(true);
    }, 90_000);

    scenario(adapter, '21 connection drop: every confirmed message is handled after a 10 s cut, without restart', ['networkFault'], async (h) => {
      const spec = h.spec('netcut');
      await h.startService(spec.serviceName, [h.listenerRoute({ spec })]);
      const confirmed = new Set<number>();
      let publishing = true;
      const publisher = (async () => {
        for (let i = 0; publishing; i += 1) {
          try {
            await h.publishJson(spec.channel, { i });
            confirmed.add(i);
          } catch {
            await new Promise((resolve) => setTimeout(resolve, 100));
          }
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
      })();
      await waitFor(() => confirmed.size >= 20, '20 confirmed before the cut');
      await adapter.cutNetwork!(10_000);
      await waitFor(() => confirmed.size >= 40, 'confirmed publishes after the cut', 60_000);
      publishing = false;
      await publisher;
      const handled = () => new Set(h.calls.map((c) => indexOf(c.payload)));
      await waitFor(() => [...confirmed].every((i) => handled().has(i)), 'every confirmed message handled', 60_000);
    }, 150_000);

    scenario(adapter, '22 broker restart: 5,000 messages from 20 publishers over two restarts, none lost', ['restartableBroker', 'durable'], async (h) => {
      const spec = h.spec('restart');
      await h.startService(spec.serviceName, [h.listenerRoute({ spec })], 50);
      const confirmed = new Set<number>();
      let next = 0;
      const publisher = async () => {
        while (next < 5_000) {
          const i = next++;
          for (let tries = 0; ; tries += 1) {
            try {
              await h.publishJson(spec.channel, { i });
              confirmed.add(i);
              break;
            } catch (error) {
              if (tries > 200) throw error;
              await new Promise((resolve) => setTimeout(resolve, 100));
            }
          }
        }
      };
      const publishers = Promise.all(Array.from({ length: 20 }, publisher));
      await waitFor(() => confirmed.size >= 1_000, '1,000 confirmed', 60_000);
      await adapter.restartBroker!();
      await waitFor(() => confirmed.size >= 3_000, '3,000 confirmed', 120_000);
      await adapter.restartBroker!();
      await publishers;
      const handled = new Set<number>();
      await waitFor(() => {
        for (const call of h.calls.splice(0)) handled.add(indexOf(call.payload));
        return [...confirmed].every((i) => handled.has(i));
      }, 'every confirmed message handled', 180_000);
    }, 400_000);

    scenario(adapter, '23 listen/stop churn: concurrent start/stop leaves no leak; the next runner handles all', [], async (h) => {
      const spec = h.spec('churn');
      const warm = await h.startService(spec.serviceName, [h.listenerRoute({ spec, instance: 'warm' })]);
      await warm.stop();
      const baseline = process.getActiveResourcesInfo().length;
      const runners = await Promise.all(Array.from({ length: 10 }, () => h.startService(spec.serviceName, [h.listenerRoute({ spec, instance: 'churn' })])));
      await Promise.all(runners.map((runner) => runner.stop()));
      await waitFor(() => process.getActiveResourcesInfo().length <= baseline, 'handles released after churn', 10_000);
      await h.startService(spec.serviceName, [h.listenerRoute({ spec, instance: 'last' })]);
      for (let i = 0; i < 50; i += 1) await h.publishJson(spec.channel, { i });
      await waitFor(() => h.callsFor((c) => c.instance === 'last').length >= 50, '50 calls by the last runner');
      expect(h.callsFor((c) => c.instance !== 'last')).toHaveLength(0);
    });
  });
}
