// The script each child process of a ProcessPool runs: it announces itself, then answers one
// WorkerCall at a time over the IPC channel (advanced serialization: structured clone), and exits
// when the channel closes (the pool retired it, or the service died: no orphan survives it).
import { runWorkerCall, type WorkerCall } from './worker-call.ts';

process.on('disconnect', () => process.exit(0));
// The service decides when this process ends (it closes the channel, or kills it): a SIGINT or
// SIGTERM sent to the whole process group (Ctrl+C, systemd) must not fail the call it is running
// while the service drains.
process.on('SIGINT', () => undefined);
process.on('SIGTERM', () => undefined);
// A promise a target left rejected is reported, not a crash that would fail the next call.
process.on('unhandledRejection', (reason) => {
  process.stderr.write(`worker process ${process.pid}: unhandled rejection left by a target: ${reason instanceof Error ? reason.stack ?? reason.message : String(reason)}\n`);
});
process.on('message', (message: { readonly id: number; readonly call: WorkerCall }) => {
  void runWorkerCall(message.call).then((reply) => process.send?.({ id: message.id, reply }));
});
process.send?.({ ready: true });
