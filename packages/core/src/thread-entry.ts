// The module each Piscina worker thread loads: one task is one WorkerCall (see worker-call.ts).
export { runWorkerCall as default } from './worker-call.ts';
