import { inspect } from 'node:util';
import { JsonLogger } from '@micro-framework/core';

/**
 * Collects what a secret must never reach, for an adapter's secrets test: every line its services
 * log (through `logger`, at debug) and every error it sees (`keep`: its string form, message, stack,
 * JSON and util.inspect, for the error, its causes and an AggregateError's errors). `leaks(secret)` lists the texts that contain it.
 */
export function secretProbe(): { logger: JsonLogger; keep(error: unknown): void; readonly lines: string[]; readonly messages: string[]; leaks(secret: string): string[] } {
  const lines: string[] = [];
  const messages: string[] = [];
  const describeOne = (error: unknown): string[] => {
    const { message, stack } = (error ?? {}) as { message?: unknown; stack?: unknown };
    let json: string;
    try {
      json = JSON.stringify(error) ?? '';
    } catch {
      json = '';
    }
    return [String(error), String(message ?? ''), String(stack ?? ''), json, inspect(error, { depth: 6 })];
  };
  // The error, its causes and an AggregateError's errors: a secret carried by a wrapped client error counts too.
  const describe = (error: unknown, seen = new Set<unknown>()): string[] => {
    if (seen.has(error) || seen.size > 32) return [];
    seen.add(error);
    const texts = describeOne(error);
    if (typeof error === 'object' && error !== null) {
      const { cause, errors } = error as { cause?: unknown; errors?: unknown };
      if (cause !== undefined) texts.push(...describe(cause, seen));
      if (Array.isArray(errors)) for (const inner of errors) texts.push(...describe(inner, seen));
    }
    return texts;
  };
  return {
    logger: new JsonLogger({ level: 'debug', sink: (line) => void lines.push(line) }),
    keep: (error) => void messages.push(...describe(error)),
    lines,
    messages,
    leaks: (secret) => [...lines, ...messages].filter((text) => text.includes(secret)),
  };
}
