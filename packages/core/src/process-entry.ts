// The script each child process of a ProcessPool runs: it announces itself, then answers one
// WorkerCall at a time over the IPC channel (advanced serialization: structured clone), and exits
// when the channel closes (the pool retired it, or the service died: no orphan survives it).
import { runWorkerCall, type WorkerCall } from './worker-call.ts';

process.on('disconnect', () => process.exit(0));
process.on('message', (message: { readonly id: number; readonly call: WorkerCall }) => {
  void runWorkerCall(message.call).then((reply) => process.send?.({ id: message.id, reply }));
});
process.send?.({ ready: true });
