import type { RouteLabels, ServiceObserver } from '@micro-framework/core';

/** A service observer counting the attempts of the routes `matches` picks, and connection drops. */
export interface AttemptCounter extends ServiceObserver {
  /** Attempts begun. */
  begun: number;
  /** Attempts finished (either way). */
  ended: number;
  /** Broker connections lost. */
  connectionsLost: number;
}

/** Counts attempts of the routes whose labels `matches`, e.g. `(route) => route.route.endsWith('.burn')`. */
export function attemptCounter(matches: (labels: RouteLabels) => boolean): AttemptCounter {
  return {
    begun: 0,
    ended: 0,
    connectionsLost: 0,
    taskStarted(event) {
      if (matches(event)) this.begun += 1;
    },
    taskFinished(event) {
      if (matches(event)) this.ended += 1;
    },
    connectionLost() {
      this.connectionsLost += 1;
    },
  };
}
