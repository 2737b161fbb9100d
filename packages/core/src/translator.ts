import type { Meta } from './meta.ts';

/**
 * Turns the arguments an entrypoint delivered into the arguments the target receives. Translators run
 * in order; a throw is a decode error: the target is not called and the message is dead-lettered.
 */
export interface MessageTranslator {
  translate(args: readonly unknown[], meta: Meta): readonly unknown[] | Promise<readonly unknown[]>;
}

function mapArgument(args: readonly unknown[], index: number, fn: (value: unknown) => unknown): unknown[] {
  if (index >= args.length) throw new Error(`expected an argument at position ${index}, got ${args.length}`);
  return args.map((value, i) => (i === index ? fn(value) : value));
}

/** Parses the argument at `index` (default 0) from JSON text or UTF-8 bytes; other values pass through. */
export class JsonTranslator implements MessageTranslator {
  readonly #index: number;
  static readonly #decoder = new TextDecoder('utf-8', { fatal: true });

  constructor(options: { index?: number } = {}) {
    this.#index = options.index ?? 0;
  }

  translate(args: readonly unknown[]): unknown[] {
    return mapArgument(args, this.#index, (value) => {
      if (typeof value === 'string') return JSON.parse(value);
      if (value instanceof Uint8Array) return JSON.parse(JsonTranslator.#decoder.decode(value));
      return value;
    });
  }
}

/** The Standard Schema interface (https://standardschema.dev) that zod, valibot and arktype implement. */
export interface StandardSchemaV1<Input = unknown, Output = Input> {
  readonly '~standard': {
    readonly version: 1;
    readonly vendor: string;
    readonly validate: (
      value: unknown,
    ) =>
      | { readonly value: Output; readonly issues?: undefined }
      | { readonly issues: ReadonlyArray<{ readonly message: string; readonly path?: ReadonlyArray<unknown> }> }
      | Promise<
          | { readonly value: Output; readonly issues?: undefined }
          | { readonly issues: ReadonlyArray<{ readonly message: string; readonly path?: ReadonlyArray<unknown> }> }
        >;
    readonly types?: { readonly input: Input; readonly output: Output };
  };
}

/** Error thrown by SchemaTranslator; its message lists every issue with its path. */
export class SchemaValidationError extends Error {
  readonly issues: ReadonlyArray<{ readonly message: string; readonly path?: ReadonlyArray<unknown> }>;

  constructor(issues: SchemaValidationError['issues']) {
    const describe = (issue: SchemaValidationError['issues'][number]): string => {
      const path = issue.path?.map((p) => (typeof p === 'object' && p !== null && 'key' in p ? String(p.key) : String(p)));
      return path && path.length > 0 ? `${path.join('.')}: ${issue.message}` : issue.message;
    };
    super(`schema validation failed: ${issues.map(describe).join('; ')}`);
    this.name = 'SchemaValidationError';
    this.issues = issues;
  }
}

/** Validates (and may transform) the argument at `index` (default 0) with any Standard Schema validator. */
export class SchemaTranslator implements MessageTranslator {
  readonly #schema: StandardSchemaV1;
  readonly #index: number;

  constructor(schema: StandardSchemaV1, options: { index?: number } = {}) {
    this.#schema = schema;
    this.#index = options.index ?? 0;
  }

  async translate(args: readonly unknown[]): Promise<unknown[]> {
    if (this.#index >= args.length) throw new Error(`expected an argument at position ${this.#index}`);
    const outcome = await this.#schema['~standard'].validate(args[this.#index]);
    if (outcome.issues) throw new SchemaValidationError(outcome.issues);
    return args.map((value, i) => (i === this.#index ? outcome.value : value));
  }
}
