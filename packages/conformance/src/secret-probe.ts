import { JsonLogger } from '@micro-framework/core';

/**
 * Collects what a secret must never reach, for an adapter's secrets test: every line its services
 * log (through `logger`, at debug) and every error it sees (`keep`: its string form, message, stack
 * and JSON). `leaks(secret)` lists the texts that contain it.
 */
export function secretProbe(): { logger: JsonLogger; keep(error: unknown): void; readonly lines: string[]; readonly messages: string[]; leaks(secret: string): string[] } {
  const lines: string[] = [];
  const messages: string[] = [];
  const describe = (error: unknown): string[] => {
    const { message, stack } = (error ?? {}) as { message?: unknown; stack?: unknown };
    let json: string;
    try {
      json = JSON.stringify(error) ?? '';
    } catch {
      json = '';
    }
    return [String(error), String(message ?? ''), String(stack ?? ''), json];
  };
  return {
    logger: new JsonLogger({ level: 'debug', sink: (line) => void lines.push(line) }),
    keep: (error) => void messages.push(...describe(error)),
    lines,
    messages,
    leaks: (secret) => [...lines, ...messages].filter((text) => text.includes(secret)),
  };
}
