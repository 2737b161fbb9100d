/** Topics of the conformance suite: `conformance.<channel>`, created with this many partitions. */
export const conformanceTopic = (channel: string): string => `conformance.${channel}`;
export const conformancePartitions = 8;
/** A short session so a member stuck in a call is replaced within seconds in the stop-timeout scenario. */
export const conformanceSessionTimeoutMs = 8_000;
