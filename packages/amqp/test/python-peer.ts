import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { waitFor } from '@micro-framework/conformance';
import { url } from './helpers.ts';

/**
 * The Python side of the interop tests: tools/python-peer/peer.py, a micro_framework service and
 * client on kombu (Debian's python3-kombu, which `npm test` installs when missing). Runs without
 * blocking this process, whose services it talks to.
 */
export const peerScript = fileURLToPath(new URL('../../../tools/python-peer/peer.py', import.meta.url));
export const python = process.env['MICRO_FRAMEWORK_PYTHON'] ?? '/usr/bin/python3';

const run = promisify(execFile);

/** One JSON line the peer printed. */
export type PeerLine = Record<string, unknown>;

/** Runs a one-shot peer command (call, dispatch, declare-events) and returns its JSON line. */
export async function peer(...args: string[]): Promise<PeerLine> {
  const { stdout } = await run(python, [peerScript, '--url', url, ...args], { timeout: 30_000 });
  const lines = stdout.trim().split('\n');
  return JSON.parse(lines[lines.length - 1]!) as PeerLine;
}

/** A running Python service: every JSON line it printed, and how to stop it. */
export interface PeerService {
  readonly lines: PeerLine[];
  readonly events: () => PeerLine[];
  stop(): Promise<void>;
}

/** Starts `peer.py serve` and resolves once it consumes (it printed {"ready": true}). */
export async function servePeer(service: string, listen: string[] = []): Promise<PeerService> {
  const child: ChildProcess = spawn(python, [peerScript, '--url', url, 'serve', '--service', service, ...listen.flatMap((key) => ['--listen', key])], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: PeerLine[] = [];
  let stderr = '';
  let exited: number | null | undefined;
  let buffered = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    buffered += chunk;
    const complete = buffered.split('\n');
    buffered = complete.pop()!;
    for (const line of complete) if (line.trim()) lines.push(JSON.parse(line) as PeerLine);
  });
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const done = new Promise<void>((resolve) => child.once('exit', (code) => ((exited = code), resolve())));
  await waitFor(() => {
    if (exited !== undefined) throw new Error(`the Python peer exited with ${String(exited)}: ${stderr.trim().split('\n').slice(-1)[0] ?? ''}`);
    return lines.some((line) => line['ready'] === true);
  }, 'the Python peer to consume');
  return {
    lines,
    events: () => lines.filter((line) => 'event' in line),
    async stop() {
      if (exited === undefined) child.kill('SIGTERM');
      await done;
    },
  };
}
