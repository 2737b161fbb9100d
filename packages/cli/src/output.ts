import { inspect } from 'node:util';

/** Where a command writes: stdout for results, stderr for errors (replaceable in tests). */
export interface Output {
  out(text: string): void;
  err(text: string): void;
}

/** The process's stdout and stderr, one line per call. */
export const processOutput: Output = {
  out: (text) => void process.stdout.write(`${text}\n`),
  err: (text) => void process.stderr.write(`${text}\n`),
};

/** A value for people: strings as they are, everything else as Node prints it. */
export function readable(value: unknown): string {
  return typeof value === 'string' ? value : inspect(value, { depth: 8, colors: false, breakLength: 100 });
}
