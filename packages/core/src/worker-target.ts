import { isAbsolute } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { DependencyMap } from './dependency.ts';
import { ConfigurationError } from './errors.ts';

export interface WorkerTargetOptions {
  /**
   * Resolved in the main thread for each call; their values are structured-cloned into the worker and
   * passed as the function's first argument, as `inject` does. Values holding connections cannot cross.
   */
  readonly dependencies?: DependencyMap;
  /** The target's name in metrics, logs and queue names; default the export's name. */
  readonly name?: string;
  /** How many arguments it takes, as RPC introspection reports it; default read from the export once imported (without the injected values). */
  readonly arity?: number;
}

/**
 * A target named by its module and export instead of a function object (a function cannot cross into
 * a worker thread or child process). In `workerMode` `thread` or `process` the call runs in the pool,
 * which imports the module there; in `async` mode it is imported and called on the main thread.
 */
export class WorkerTarget {
  /** The module's file URL. */
  readonly module: string;
  readonly exportName: string;
  readonly dependencies: DependencyMap | undefined;
  readonly name: string;
  #arity: number | undefined;
  /** The export, imported once (async mode calls it on every message). */
  #loaded: Promise<(...args: unknown[]) => unknown> | undefined;

  constructor(module: string | URL, exportName: string, options: WorkerTargetOptions = {}) {
    this.module = moduleUrl(module);
    if (exportName.length === 0) throw new ConfigurationError('workerTarget needs an export name');
    this.exportName = exportName;
    this.dependencies = options.dependencies;
    this.name = options.name ?? exportName;
    this.#arity = options.arity;
  }

  /** The arguments it takes (without the injected values), once given or imported; undefined before. */
  get arity(): number | undefined {
    return this.#arity;
  }

  /**
   * Imports the module in this thread and returns the export: called at start in every mode (a
   * missing export fails the start, and the arity is read), and per call in async mode. Rejects with
   * ConfigurationError when the module has no such function.
   */
  load(): Promise<(...args: unknown[]) => unknown> {
    if (!this.#loaded) {
      const loading = this.#import();
      // A failed import is tried again on the next call (the file may be fixed, or appear).
      loading.catch(() => (this.#loaded = undefined));
      this.#loaded = loading;
    }
    return this.#loaded;
  }

  async #import(): Promise<(...args: unknown[]) => unknown> {
    let loaded: Record<string, unknown>;
    try {
      loaded = (await import(this.module)) as Record<string, unknown>;
    } catch (error) {
      throw new ConfigurationError(`workerTarget ${this.name}: cannot import ${this.module}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
    }
    const fn = loaded[this.exportName];
    if (typeof fn !== 'function') throw new ConfigurationError(`${this.module} exports no function named ${this.exportName}`);
    this.#arity ??= Math.max(0, fn.length - (this.dependencies ? 1 : 0));
    return fn as (...args: unknown[]) => unknown;
  }
}

/** A module given as a file URL (e.g. `import.meta.url`, `new URL('./resize.ts', import.meta.url)`) or an absolute path. */
function moduleUrl(module: string | URL): string {
  if (module instanceof URL) {
    if (module.protocol !== 'file:') throw new ConfigurationError(`workerTarget needs a file: URL, got ${module.protocol}`);
    return module.href;
  }
  if (module.startsWith('file:')) return new URL(module).href;
  if (isAbsolute(module)) return pathToFileURL(module).href;
  throw new ConfigurationError(`workerTarget needs a file URL or an absolute path (a worker resolves nothing relative to your module), got "${module}": use new URL('./file.js', import.meta.url)`);
}

/** A target a worker thread or child process can run: `workerTarget(new URL('./resize.js', import.meta.url), 'resize')`. */
export function workerTarget(module: string | URL, exportName: string, options: WorkerTargetOptions = {}): WorkerTarget {
  return new WorkerTarget(module, exportName, options);
}
