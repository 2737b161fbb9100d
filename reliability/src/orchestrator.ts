import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TcpProxy } from '@micro-framework/conformance';
import type { BrokerDriver, BrokerName, DeadLetter } from './broker-driver.ts';
import { ConsumerProcess } from './consumer-process.ts';
import { loadDriver } from './drivers/index.ts';
import { describeFault, fullFaults, scheduleFaults, shortFaults, type Fault } from './fault-schedule.ts';
import { computeFigures, ruleBroken, type FaultRecord, type Figures } from './figures.ts';
import { readJournals } from './journal.ts';
import { planMessages, type PlannedMessage } from './messages.ts';
import { Prng } from './prng.ts';
import { publishAll } from './publishers.ts';
import { RpcCaller } from './rpc-caller.ts';

export interface ChaosOptions {
  readonly broker: BrokerName;
  readonly messages: number;
  readonly seed: number;
  /** The CI run: one kill, one broker restart, one cut. */
  readonly short: boolean;
  /** Planned length of publishing, in seconds. */
  readonly seconds: number;
  readonly publishers?: number;
  readonly maxWorkers?: number;
  /** The listeners' ack wait where the broker has one. Default 5 s. */
  readonly ackWaitMs?: number;
  /** How long to wait for the queues to drain after publishing and the faults. Default 180 s. */
  readonly drainTimeoutMs?: number;
  /** Keep the run directory (journals, consumer logs) even when the rule holds. */
  readonly keep?: boolean;
  readonly log?: (line: string) => void;
}

/** One broker's chaos run: what was planned, what happened, and the figures. */
export interface ChaosRun {
  readonly broker: BrokerName;
  readonly label: string;
  readonly seed: number;
  readonly settings: Record<string, number | string | boolean>;
  readonly schedule: readonly { readonly atMs: number; readonly what: string }[];
  readonly faultLog: readonly { readonly what: string; readonly startedAtMs: number; readonly endedAtMs: number }[];
  readonly figures: Figures;
  readonly broken: readonly string[];
  readonly notes: readonly string[];
  readonly versions: Record<string, string>;
  /** Journals and consumer logs (removed when the rule held, unless kept). */
  readonly runDir: string | undefined;
  readonly startedAt: string;
  readonly seconds: number;
}

/** Thrown when the chosen broker has no driver yet. */
export class NotImplemented extends Error {}

const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Runs one broker's chaos run: starts the broker (driver), a TCP proxy, the consumer in its own
 * process and an RPC caller; publishes the seeded plan while the seeded faults happen; waits for the
 * queues to drain (or a deadline); stops the consumer; reads journals and dead letters; computes the
 * figures. Never hides a failure: a loss or a hang is in the figures, not thrown.
 */
export async function runChaos(options: ChaosOptions): Promise<ChaosRun> {
  const log = options.log ?? ((line: string) => console.log(line));
  const module = await loadDriver(options.broker);
  if (!module) throw new NotImplemented(`broker ${options.broker}: not implemented yet (add src/drivers/${options.broker}.ts, see src/broker-driver.ts)`);
  const publishers = options.publishers ?? 20;
  const maxWorkers = options.maxWorkers ?? 50;
  const ackWaitMs = options.ackWaitMs ?? 5_000;
  const stopTimeoutMs = 15_000;
  const publishMs = options.seconds * 1_000;
  const began = Date.now();
  const plan = planMessages(new Prng(options.seed), { messages: options.messages, publishers });
  const schedule = scheduleFaults(new Prng(options.seed ^ 0x5eed), { faults: options.short ? shortFaults : fullFaults, publishMs });
  const runDir = mkdtempSync(join(tmpdir(), `micro-framework-chaos-${options.broker}-`));
  const serviceName = `chaos-${began.toString(36)}`;
  log(`chaos ${options.broker}: seed ${options.seed}, ${options.messages} messages over ${options.seconds} s, run directory ${runDir}`);
  for (const fault of schedule) log(`  planned at ${(fault.atMs / 1_000).toFixed(1)} s: ${describeFault(fault)}`);

  const driver = await module.start({ serviceName, ackWaitMs });
  const proxy = new TcpProxy(driver.proxyTarget);
  let consumer: ConsumerProcess | undefined;
  let rpcCaller: RpcCaller | undefined;
  try {
    const proxyPort = await proxy.start(driver.proxyTarget.listenPort ?? 0);
    consumer = new ConsumerProcess({ broker: options.broker, spec: driver.serviceSpec(proxyPort), serviceName, runDir, maxWorkers, stopTimeoutMs });
    consumer.onUnexpectedExit.push((exit) => log(`  !! consumer ${exit.incarnation} (pid ${exit.pid}) exited on its own: code ${exit.code}, signal ${exit.signal}; started again`));
    await consumer.start();
    const versions = await driver.versions();
    rpcCaller = new RpcCaller(await driver.createRpcClient(), { service: serviceName });
    rpcCaller.start();

    const t0 = Date.now();
    let lastProgress = t0;
    const publishing = publishAll(driver, plan, {
      publishers,
      publishMs,
      onConfirmed: (count) => {
        if (Date.now() - lastProgress < 5_000) return;
        lastProgress = Date.now();
        log(`  ${((lastProgress - t0) / 1_000).toFixed(0)} s: ${count} confirmed`);
      },
    });
    const faultLog = await runFaults(schedule, t0, { driver, proxy, consumer, stopTimeoutMs, log });
    const published = await publishing;
    log(`  publishing done: ${published.confirmed.size} confirmed, ${published.unconfirmed.length} unconfirmed, ${published.retries} retried publishes`);
    const rpc = await rpcCaller.stop();
    log(`  RPC: ${rpc.calls} calls, ${rpc.ok} ok, ${rpc.hung} hung`);

    const drain = await waitForDrain(driver, runDir, plan, published.confirmed, options.drainTimeoutMs ?? 180_000, log);
    await consumer.close(stopTimeoutMs + 5_000);
    const { records, torn } = readJournals(runDir);
    const deadLetters = await driver.readDeadLetters();
    const figures = computeFigures({
      plan,
      published,
      records,
      tornJournalLines: torn,
      deadLetters,
      rpc,
      faults: faultLog,
      keyedOrder: driver.keyedOrder,
      peakRssBytes: consumer.peakRss,
      consumerExits: consumer.exits,
      incarnations: consumer.incarnations,
      drain,
    });
    const broken = ruleBroken(figures);
    const keepDir = options.keep === true || broken.length > 0;
    if (!keepDir) rmSync(runDir, { recursive: true, force: true });
    return {
      broker: options.broker,
      label: driver.label,
      seed: options.seed,
      settings: { messages: options.messages, seconds: options.seconds, short: options.short, publishers, maxWorkers, ackWaitMs, rpcTimeoutMs: rpc.timeoutMs, poisonRate: 0.01, backoff: 'broker-delayed, 2 retries, 200 ms' },
      schedule: schedule.map((fault) => ({ atMs: fault.atMs, what: describeFault(fault) })),
      faultLog: faultLog.map((entry) => ({ what: describeFault(entry.fault), startedAtMs: entry.startedAt - t0, endedAtMs: entry.endedAt - t0 })),
      figures,
      broken,
      notes: driver.notes,
      versions,
      runDir: keepDir ? runDir : undefined,
      startedAt: new Date(began).toISOString(),
      seconds: Math.round((Date.now() - began) / 1_000),
    };
  } finally {
    if (rpcCaller) await rpcCaller.stop().catch(() => undefined);
    if (consumer) await consumer.close(stopTimeoutMs + 5_000).catch(() => undefined);
    await proxy.close().catch(() => undefined);
    await driver.close().catch(() => undefined);
  }
}

interface FaultTools {
  readonly driver: BrokerDriver;
  readonly proxy: TcpProxy;
  readonly consumer: ConsumerProcess;
  readonly stopTimeoutMs: number;
  readonly log: (line: string) => void;
}

/** Starts the consumer again; a start that fails (the broker not answering yet, say) is tried again, and noted. */
async function restartConsumer(tools: FaultTools): Promise<void> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      await tools.consumer.start();
      return;
    } catch (error) {
      tools.log(`  !! consumer start ${attempt} failed: ${String(error)}`);
      if (attempt >= 5) throw error;
      await pause(1_000);
    }
  }
}

/** Carries out the schedule, one fault at a time, each at its time (or after the previous one ended). */
async function runFaults(schedule: readonly Fault[], t0: number, tools: FaultTools): Promise<FaultRecord[]> {
  const done: FaultRecord[] = [];
  for (const fault of schedule) {
    const due = t0 + fault.atMs;
    if (due > Date.now()) await pause(due - Date.now());
    const startedAt = Date.now();
    tools.log(`  ${((startedAt - t0) / 1_000).toFixed(1)} s: ${describeFault(fault)}`);
    let endedAt: number;
    switch (fault.kind) {
      case 'kill':
        await tools.consumer.kill();
        await pause(fault.downMs);
        endedAt = Date.now();
        await restartConsumer(tools);
        break;
      case 'graceful':
        await tools.consumer.stop(tools.stopTimeoutMs + 5_000);
        endedAt = Date.now();
        await restartConsumer(tools);
        break;
      case 'restart-broker':
        await tools.driver.restartBroker();
        endedAt = Date.now();
        break;
      case 'cut':
        tools.proxy.cut();
        await pause(fault.durationMs);
        tools.proxy.restore();
        endedAt = Date.now();
        break;
    }
    tools.log(`  ${((Date.now() - t0) / 1_000).toFixed(1)} s: done (${((endedAt - startedAt) / 1_000).toFixed(1)} s)`);
    done.push({ fault, startedAt, endedAt });
  }
  return done;
}

/**
 * Polls until every confirmed message is accounted for (processed, handled by a callback or
 * dead-lettered) and the broker holds nothing more for the service; or until nothing moved for 20 s
 * with nothing held (what is missing then will not come); or until the deadline.
 */
async function waitForDrain(
  driver: BrokerDriver,
  runDir: string,
  plan: readonly PlannedMessage[],
  confirmed: ReadonlyMap<string, number>,
  timeoutMs: number,
  log: (line: string) => void,
): Promise<{ endedBy: 'drained' | 'idle' | 'deadline'; ms: number }> {
  const started = Date.now();
  const wanted = plan.filter((message) => confirmed.has(message.id)).map((message) => message.id);
  let lastCount = -1;
  let lastMove = started;
  let lastLog = started;
  for (;;) {
    const { records } = readJournals(runDir);
    const done = new Set(records.filter((r) => r.route !== 'rpc' && r.outcome === 'ok').map((r) => r.id));
    const dead: DeadLetter[] = await driver.readDeadLetters().catch(() => []);
    for (const letter of dead) if (letter.id) done.add(letter.id);
    const missing = wanted.filter((id) => !done.has(id)).length;
    const held = driver.backlog ? await driver.backlog().catch(() => -1) : 0;
    const now = Date.now();
    if (missing === 0 && held === 0) return { endedBy: 'drained', ms: now - started };
    if (missing !== lastCount) {
      lastCount = missing;
      lastMove = now;
    }
    if (held === 0 && now - lastMove > 20_000) return { endedBy: 'idle', ms: now - started };
    if (now - started > timeoutMs) return { endedBy: 'deadline', ms: now - started };
    if (now - lastLog > 5_000) {
      lastLog = now;
      log(`  draining: ${missing} confirmed message(s) not accounted for yet, broker holds ${held}`);
    }
    await pause(1_000);
  }
}
