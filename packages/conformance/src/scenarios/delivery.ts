import type { ConformanceAdapter } from '@micro-framework/core/testing';
import { describe, expect } from 'vitest';
import { staysQuiet, waitFor } from '../poll.ts';
import { scenario } from '../scenario.ts';

const utf8 = new TextEncoder();

/** Scenarios 1–7: delivery guarantees of listeners. */
export function deliveryScenarios(adapter: ConformanceAdapter): void {
  describe('delivery', () => {
    scenario(adapter, '1 round-trip: payloads and headers arrive intact, exactly once', [], async (h) => {
      const spec = h.spec('roundtrip', { format: 'raw' });
      await h.startService(spec.serviceName, [h.listenerRoute({ spec })]);
      const sent = new Map<string, { body: Uint8Array; headers: Record<string, string> }>();
      for (let i = 0; i < 100; i += 1) {
        const kind = i % 3;
        const body =
          kind === 0
            ? new Uint8Array(0)
            : kind === 1
              ? Uint8Array.from({ length: 256 }, (_, b) => (b + i) % 256)
              : utf8.encode(`héllo ✓ 日本語 🚀 ${i}`);
        const headers = { 'x-index': String(i), 'x-text': 'ünïcödé ✓', 'x-empty': '', 'x-number': '-12.5e3', 'x-bool': 'true', 'x-json': '{"a":[1,null]}' };
        sent.set(String(i), { body, headers });
        await adapter.publish(spec.channel, { body, headers });
      }
      await waitFor(() => h.calls.length >= 100, '100 calls');
      expect(await staysQuiet(() => h.calls.length > 100, 300)).toBe(true);
      const seen = new Set<string>();
      for (const call of h.calls) {
        const index = call.meta.headers['x-index'] ?? '';
        expect(seen.has(index), `message ${index} handled twice`).toBe(false);
        seen.add(index);
        const expected = sent.get(index);
        expect(expected, `unknown message ${index}`).toBeDefined();
        expect(call.payload).toBeInstanceOf(Uint8Array);
        expect(Buffer.from(call.payload as Uint8Array).equals(Buffer.from(expected!.body))).toBe(true);
        expect(call.meta.headers).toMatchObject(expected!.headers);
      }
      expect(seen.size).toBe(100);
    });

    scenario(adapter, '2 publish-before-listen: messages published while no instance runs are handled', ['durable'], async (h) => {
      const spec = h.spec('durable');
      const first = await h.startService(spec.serviceName, [h.listenerRoute({ spec })]);
      await first.stop();
      for (let i = 0; i < 50; i += 1) await h.publishJson(spec.channel, { i });
      await h.startService(spec.serviceName, [h.listenerRoute({ spec })]);
      await waitFor(() => h.calls.length >= 50, '50 calls');
      expect(new Set(h.calls.map((c) => (c.payload as { i: number }).i)).size).toBe(50);
    });

    scenario(adapter, '3 channel isolation: messages on A never reach B', [], async (h) => {
      const a = h.spec('iso-a');
      const b = { channel: h.unique('iso-b'), serviceName: a.serviceName };
      await h.startService(a.serviceName, [h.listenerRoute({ spec: a, instance: 'A' }), h.listenerRoute({ spec: b, instance: 'B' })]);
      for (let i = 0; i < 20; i += 1) {
        await h.publishJson(a.channel, { to: 'A', i });
        await h.publishJson(b.channel, { to: 'B', i });
      }
      await waitFor(() => h.calls.length >= 40, '40 calls');
      expect(await staysQuiet(() => h.calls.length > 40, 300)).toBe(true);
      for (const call of h.calls) expect((call.payload as { to: string }).to).toBe(call.instance);
    });

    scenario(adapter, '4 competing consumers: instances of one service share the work', ['competingConsumers'], async (h) => {
      const spec = h.spec('compete');
      for (const instance of ['i1', 'i2', 'i3']) {
        const handler = () => new Promise((resolve) => setTimeout(resolve, 5));
        await h.startService(spec.serviceName, [h.listenerRoute({ spec, instance, handler })], 5);
      }
      for (let i = 0; i < 300; i += 1) await h.publishJson(spec.channel, { i });
      await waitFor(() => h.calls.length >= 300, '300 calls');
      expect(await staysQuiet(() => h.calls.length > 300, 300)).toBe(true);
      expect(new Set(h.calls.map((c) => (c.payload as { i: number }).i)).size).toBe(300);
      for (const instance of ['i1', 'i2', 'i3']) expect(h.callsFor((c) => c.instance === instance).length).toBeGreaterThan(0);
    });

    scenario(adapter, '5 fan-out: two services each get every message', [], async (h) => {
      const one = h.spec('fanout');
      const two = { channel: one.channel, serviceName: h.unique('svc-fanout-2') };
      await h.startService(one.serviceName, [h.listenerRoute({ spec: one, instance: 'one' })]);
      await h.startService(two.serviceName, [h.listenerRoute({ spec: two, instance: 'two' })]);
      for (let i = 0; i < 50; i += 1) await h.publishJson(one.channel, { i });
      await waitFor(() => h.calls.length >= 100, '100 calls');
      for (const instance of ['one', 'two']) {
        const got = h.callsFor((c) => c.instance === instance).map((c) => (c.payload as { i: number }).i);
        expect(new Set(got).size).toBe(50);
      }
    });

    scenario(adapter, '6 per-key order: first deliveries of one key keep publish order', ['orderedPerKey'], async (h) => {
      const spec = h.spec('order');
      const handler = () => new Promise((resolve) => setTimeout(resolve, Math.random() * 3));
      await h.startService(spec.serviceName, [h.listenerRoute({ spec, handler })], 8);
      for (let seq = 0; seq < 500; seq += 1) {
        const key = `k${seq % 8}`;
        await h.publishJson(spec.channel, { key, seq }, { key });
      }
      await waitFor(() => new Set(h.calls.map((c) => (c.payload as { seq: number }).seq)).size >= 500, '500 distinct calls');
      const firstSeen = new Set<number>();
      const perKey = new Map<string, number[]>();
      for (const call of h.calls) {
        const { key, seq } = call.payload as { key: string; seq: number };
        if (firstSeen.has(seq)) continue;
        firstSeen.add(seq);
        perKey.set(key, [...(perKey.get(key) ?? []), seq]);
      }
      for (const [key, seqs] of perKey) expect(seqs, `order of ${key}`).toEqual([...seqs].sort((x, y) => x - y));
    });

    scenario(adapter, '7 payload filter: non-matching messages are acked and never reach the target', [], async (h) => {
      const spec = h.spec('filter', { payloadFilter: (p) => (p as { keep?: boolean }).keep === true });
      const filtered = await h.startService(spec.serviceName, [h.listenerRoute({ spec })]);
      for (let i = 0; i < 20; i += 1) await h.publishJson(spec.channel, { i, keep: i % 2 === 0 });
      await waitFor(() => h.calls.length >= 10, '10 kept calls');
      expect(await staysQuiet(() => h.calls.length > 10, 300)).toBe(true);
      expect(h.calls.every((c) => (c.payload as { keep: boolean }).keep)).toBe(true);
      await filtered.stop();
      // The dropped ones were acked: an unfiltered instance of the same service receives nothing.
      const { payloadFilter: _ignored, ...unfiltered } = spec;
      await h.startService(spec.serviceName, [h.listenerRoute({ spec: unfiltered, instance: 'after' })]);
      expect(await staysQuiet(() => h.callsFor((c) => c.instance === 'after').length > 0, 1_000)).toBe(true);
    });
  });
}
