import { closeSync, fsyncSync, openSync, readdirSync, readFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';

/** Which part of the consumer service wrote a record. */
export type JournalRoute = 'event' | 'keyed' | 'callback' | 'rpc';

/**
 * One line of a consumer's journal: a call of a target that ended (`ok`) or threw (`failed`). Written
 * before the target returns, so a message the broker saw acked always has its record.
 */
export interface JournalRecord {
  /** Epoch ms when the call ended. */
  readonly t: number;
  readonly pid: number;
  readonly route: JournalRoute;
  /** The message's (or RPC call's) unique id. */
  readonly id: string;
  readonly outcome: 'ok' | 'failed';
  /** 1 for the first attempt: retries already made (the retry state) + 1. */
  readonly attempt: number;
  /** How many times the broker delivered this message, where it says (JetStream, RabbitMQ quorum queues). */
  readonly delivery?: number;
  readonly key?: string;
  /** Position of the message among its key's messages, in publish order. */
  readonly seq?: number;
  readonly kind?: string;
}

/**
 * The append-only log of one consumer process: one JSON line per record, each written with a single
 * write(2) on a descriptor opened for append (a SIGKILL cannot lose a record written before it), and
 * fsynced every `fsyncEveryMs` and on close (against a crash of the machine).
 */
export class JournalWriter {
  readonly path: string;
  readonly #fd: number;
  readonly #timer: NodeJS.Timeout;
  #dirty = false;
  #closed = false;

  constructor(path: string, options: { fsyncEveryMs?: number } = {}) {
    this.path = path;
    this.#fd = openSync(path, 'a');
    this.#timer = setInterval(() => this.sync(), options.fsyncEveryMs ?? 200);
    this.#timer.unref();
  }

  /** Appends one record; returns once the kernel has it. */
  append(record: Omit<JournalRecord, 't' | 'pid'>): void {
    if (this.#closed) throw new Error(`journal ${this.path} is closed`);
    writeSync(this.#fd, `${JSON.stringify({ t: Date.now(), pid: process.pid, ...record })}\n`);
    this.#dirty = true;
  }

  /** Flushes what was appended to the disk. */
  sync(): void {
    if (!this.#dirty || this.#closed) return;
    this.#dirty = false;
    fsyncSync(this.#fd);
  }

  close(): void {
    if (this.#closed) return;
    this.sync();
    this.#closed = true;
    clearInterval(this.#timer);
    closeSync(this.#fd);
  }
}

/** The file name of a consumer incarnation's journal in the run directory. */
export function journalFileName(incarnation: number): string {
  return `journal-${String(incarnation).padStart(2, '0')}.jsonl`;
}

/**
 * Reads every journal of a run directory. A last line cut short (the process was killed in the middle
 * of a write) is counted in `torn`, not parsed; any other unreadable line is an error of the harness.
 */
export function readJournals(directory: string): { records: JournalRecord[]; torn: number } {
  const records: JournalRecord[] = [];
  let torn = 0;
  const files = readdirSync(directory).filter((name) => name.startsWith('journal-') && name.endsWith('.jsonl')).sort();
  for (const name of files) {
    const text = readFileSync(join(directory, name), 'utf8');
    const lines = text.split('\n');
    lines.forEach((line, index) => {
      if (line.length === 0) return;
      try {
        records.push(JSON.parse(line) as JournalRecord);
      } catch (error) {
        if (index === lines.length - 1) torn += 1;
        else throw new Error(`${name} line ${index + 1} is not JSON`, { cause: error });
      }
    });
  }
  return { records, torn };
}
