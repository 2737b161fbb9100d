/** The stream the conformance suite publishes to, and its subjects' prefix. */
export const conformanceStream = 'CONFORMANCE';
export const conformanceSubject = (channel: string): string => `conformance.${channel}`;

/** Short ack wait so a killed consumer's message comes back within seconds; slow calls send working(). */
export const conformanceAckWaitMs = 5_000;
