// The target a WorkerBridge puts in a route: it runs in a worker thread and asks the bridge, in the
// test's thread, to run the scenario's closure, over a BroadcastChannel. Arguments that are Errors
// (a callback's failure) and the answer's error cross written out (SerializedError).
import { randomUUID } from 'node:crypto';
import { BroadcastChannel } from 'node:worker_threads';
import { rebuildError, serializeError, type Meta, type SerializedError } from '@micro-framework/core';
import type { BridgeAddress, BridgeMessage } from './worker-bridge.ts';

const channels = new Map<string, { channel: BroadcastChannel; pending: Map<string, (reply: BridgeMessage) => void> }>();

function channelOf(name: string): { channel: BroadcastChannel; pending: Map<string, (reply: BridgeMessage) => void> } {
  let entry = channels.get(name);
  if (!entry) {
    const channel = new BroadcastChannel(name);
    const pending = new Map<string, (reply: BridgeMessage) => void>();
    channel.onmessage = (event) => {
      const message = (event as { data: BridgeMessage }).data;
      if (message.type !== 'reply') return;
      const settle = pending.get(message.callId);
      pending.delete(message.callId);
      settle?.(message);
    };
    entry = { channel, pending };
    channels.set(name, entry);
  }
  return entry;
}

export async function bridged(injected: { bridge: BridgeAddress; meta: Meta; trace: Record<string, string> }, ...args: unknown[]): Promise<unknown> {
  const { channel, pending } = channelOf(injected.bridge.channel);
  const callId = randomUUID();
  const errorArgs = args.flatMap((arg, index) => (arg instanceof Error ? [index] : []));
  const reply = await new Promise<BridgeMessage>((resolve, reject) => {
    // A bridge that went away (its scenario ended) never answers: the call fails instead of hanging.
    const timer = setTimeout(() => {
      pending.delete(callId);
      reject(new Error('the conformance bridge did not answer within 60 s'));
    }, 60_000);
    pending.set(callId, (message) => {
      clearTimeout(timer);
      resolve(message);
    });
    channel.postMessage({ type: 'call', callId, targetId: injected.bridge.targetId, startedAt: injected.bridge.startedAt, args: args.map((arg) => (arg instanceof Error ? serializeError(arg) : arg)), errorArgs, meta: injected.meta, trace: injected.trace } satisfies BridgeMessage);
  });
  if (reply.type !== 'reply') throw new Error('the bridge answered with a call');
  if (reply.ok) return reply.value;
  throw rebuildError(reply.error as SerializedError);
}
