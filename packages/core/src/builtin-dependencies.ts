import type { Config } from './config.ts';
import type { Dependency } from './dependency.ts';
import type { Meta, RetryState } from './meta.ts';
import type { Worker } from './worker.ts';

/** Injects the retry context of the current call: how many retries came before, first error time. */
export class BackoffContext implements Dependency<RetryState> {
  get(worker: Worker): RetryState {
    return worker.meta.retry;
  }
}

/** Injects the merged service configuration. */
export class ConfigDependency implements Dependency<Config> {
  get(worker: Worker): Config {
    return worker.config;
  }
}

/** Injects the call's meta (headers, channel, redelivery flag, retry context). */
export class MetaDependency implements Dependency<Meta> {
  get(worker: Worker): Meta {
    return worker.meta;
  }
}
