/** Resolves `done` once `hit()` was called `target` times. */
export class Counter {
  count = 0;
  readonly done: Promise<void>;
  #resolve!: () => void;

  readonly target: number;

  constructor(target: number) {
    this.target = target;
    this.done = new Promise<void>((resolve) => (this.#resolve = resolve));
    if (target <= 0) this.#resolve();
  }

  hit(): void {
    this.count += 1;
    if (this.count === this.target) this.#resolve();
  }
}

/** Runs `task` for 0..count-1 with at most `inFlight` at a time. */
export async function pool(count: number, inFlight: number, task: (index: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(inFlight, count) }, async () => {
      while (next < count) await task(next++);
    }),
  );
}
