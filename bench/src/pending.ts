/**
 * Promises a publisher started without waiting for each (publish acks, producer sends): `settle()`
 * resolves once all of them resolved, or rejects with the first failure. A settled promise leaves the
 * set at once, so a long run keeps only the ones in flight.
 */
export function pendingSet(): { add(promise: Promise<unknown>): void; settle(): Promise<void>; readonly size: number } {
  const inFlight = new Set<Promise<unknown>>();
  let failure: unknown;
  let failed = false;
  return {
    add(promise) {
      const tracked: Promise<unknown> = promise.then(
        () => inFlight.delete(tracked),
        (error: unknown) => {
          inFlight.delete(tracked);
          if (!failed) [failed, failure] = [true, error];
        },
      );
      inFlight.add(tracked);
    },
    async settle() {
      while (inFlight.size > 0) await Promise.all(inFlight);
      if (failed) throw failure;
    },
    get size() {
      return inFlight.size;
    },
  };
}
