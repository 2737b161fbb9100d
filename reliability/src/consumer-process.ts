import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BrokerName, Json } from './broker-driver.ts';
import type { ConsumerArguments } from './service-contract.ts';
import { journalFileName } from './journal.ts';

/** How a consumer incarnation ended. */
export interface ConsumerExit {
  readonly incarnation: number;
  readonly pid: number;
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  /** True when the orchestrator ended it (kill or graceful stop); false is a crash worth reporting. */
  readonly expected: boolean;
  readonly at: number;
}

export interface ConsumerSettings {
  readonly broker: BrokerName;
  readonly spec: Json;
  readonly serviceName: string;
  readonly runDir: string;
  readonly maxWorkers: number;
  readonly stopTimeoutMs: number;
}

const script = fileURLToPath(new URL(`./consumer-service${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url));

/** Peak resident set size of a process so far (VmHWM), in bytes; undefined once it is gone. */
function peakRss(pid: number): number | undefined {
  try {
    const match = /^VmHWM:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) * 1_024 : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The consumer service as the orchestrator sees it: one child process at a time (an incarnation),
 * each with its own journal and log file in the run directory. It samples the child's peak RSS every
 * 500 ms, and when a child exits without having been told to, records it and starts a new one so the
 * run goes on.
 */
export class ConsumerProcess {
  readonly #settings: ConsumerSettings;
  #child: ChildProcess | undefined;
  #incarnation = 0;
  #ending = false;
  #peakRss = 0;
  readonly #sampler: NodeJS.Timeout;
  readonly exits: ConsumerExit[] = [];
  /** Crashes the orchestrator did not cause, each followed by a restart. */
  readonly onUnexpectedExit: Array<(exit: ConsumerExit) => void> = [];

  constructor(settings: ConsumerSettings) {
    this.#settings = settings;
    this.#sampler = setInterval(() => this.#sample(), 500);
  }

  /** The highest VmHWM any incarnation reached, in bytes. */
  get peakRss(): number {
    this.#sample();
    return this.#peakRss;
  }

  get incarnations(): number {
    return this.#incarnation;
  }

  get running(): boolean {
    return this.#child !== undefined && this.#child.exitCode === null && this.#child.signalCode === null;
  }

  /** Spawns a new incarnation; resolves when it prints READY (it consumes). */
  async start(): Promise<void> {
    this.#incarnation += 1;
    const incarnation = this.#incarnation;
    const { runDir } = this.#settings;
    const args: ConsumerArguments = {
      broker: this.#settings.broker,
      spec: this.#settings.spec,
      serviceName: this.#settings.serviceName,
      journal: join(runDir, journalFileName(incarnation)),
      maxWorkers: this.#settings.maxWorkers,
      stopTimeoutMs: this.#settings.stopTimeoutMs,
    };
    const log = openSync(join(runDir, `consumer-${String(incarnation).padStart(2, '0')}.log`), 'a');
    const child = spawn(process.execPath, ['--conditions=@micro-framework/source', script, JSON.stringify(args)], {
      stdio: ['ignore', 'pipe', log],
      env: { ...process.env, MICRO_FRAMEWORK_LOG_LEVEL: process.env['CHAOS_CONSUMER_LOG_LEVEL'] ?? 'warn' },
    });
    closeSync(log);
    this.#child = child;
    this.#ending = false;
    child.once('exit', (code, signal) => {
      this.#sample(child);
      const exit: ConsumerExit = { incarnation, pid: child.pid ?? -1, code, signal, expected: this.#ending || this.#child !== child, at: Date.now() };
      this.exits.push(exit);
      if (!exit.expected) {
        for (const listener of this.onUnexpectedExit) listener(exit);
        // Start again so the run goes on, unless it keeps crashing (the figures then show the loss).
        if (this.exits.filter((e) => !e.expected).length <= 5) void this.start().catch(() => undefined);
      }
    });
    await new Promise<void>((resolve, reject) => {
      let output = '';
      child.stdout!.on('data', (chunk: Buffer) => {
        output += chunk.toString();
        if (output.includes('READY')) resolve();
      });
      child.once('exit', (code, signal) => reject(new Error(`consumer ${incarnation} exited (${code ?? signal}) before READY; see consumer-${String(incarnation).padStart(2, '0')}.log`)));
    });
  }

  /** SIGKILL: no drain, no goodbye. Resolves once it is gone. */
  async kill(): Promise<void> {
    await this.#end('SIGKILL', Infinity);
  }

  /** SIGTERM: the runner stops gracefully; SIGKILL after `graceMs` if it has not exited. */
  async stop(graceMs: number): Promise<void> {
    await this.#end('SIGTERM', graceMs);
  }

  /** Stops the current incarnation (gracefully) and the sampler. */
  async close(graceMs: number): Promise<void> {
    clearInterval(this.#sampler);
    await this.stop(graceMs);
  }

  async #end(signal: NodeJS.Signals, graceMs: number): Promise<void> {
    const child = this.#child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    this.#ending = true;
    this.#sample(child);
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill(signal);
    const timer = Number.isFinite(graceMs) ? setTimeout(() => child.kill('SIGKILL'), graceMs) : undefined;
    await exited;
    clearTimeout(timer);
  }

  #sample(child = this.#child): void {
    if (!child?.pid) return;
    const rss = peakRss(child.pid);
    if (rss !== undefined && rss > this.#peakRss) this.#peakRss = rss;
  }
}
