export { main, createProgram } from './program.ts';
export { brokerClient, brokerUrl, brokerNames, type BrokerClient, type BrokerName, type EmitTarget } from './brokers.ts';
export { UsageError } from './usage-error.ts';
export { describeRoutes, type RouteDescription } from './commands/routes.ts';
export { routeDeadLetters } from './dlq/route-dead-letters.ts';
export { replayGroup } from './dlq/kafka-dead-letters.ts';
export type { DeadLetterEntry } from './dead-letters.ts';
export { loadRunner } from './service-module.ts';
export type { Output } from './output.ts';
