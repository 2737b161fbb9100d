/** Source service of the events the conformance suite publishes. */
export const conformanceSourceService = 'conformance';

/** Test queues delete themselves 30 minutes after their last use, so runs leave nothing behind. */
export const conformanceQueueArguments = { 'x-expires': 30 * 60_000 } as const;
