export { main, createProgram } from './program.ts';
export { brokerClient, brokerUrl, brokerNames, UsageError, type BrokerClient, type BrokerName } from './brokers.ts';
export { describeRoutes, type RouteDescription } from './commands/routes.ts';
export { loadRunner } from './service-module.ts';
export type { Output } from './output.ts';
