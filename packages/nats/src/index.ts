export * from './nats-options.ts';
export * from './nats-headers.ts';
export * from './nats-connection.ts';
export * from './retry-state-store.ts';
export * from './jetstream-listener.ts';
export * from './nats-backoff.ts';
export * from './producer.ts';
export * from './nats-rpc.ts';
