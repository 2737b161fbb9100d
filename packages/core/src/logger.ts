/** Structured fields of one log event (JSON-encodable values). */
export type LogFields = Readonly<Record<string, unknown>>;

/** Severity, lowest first. `silent` logs nothing. */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';

/**
 * What the framework logs through: fields first, then the message, as pino takes them, so a pino
 * logger can be given as it is (`config.logger`). `child` adds fields to every later event.
 */
export interface Logger {
  /** Detail an operator turns on to follow each message (retries scheduled, hand-backs). */
  debug(fields: LogFields, message: string): void;
  /** What the service did (start-up summary, stop, reconnects). */
  info(fields: LogFields, message: string): void;
  /** Something went wrong and was handled (a connection lost, a consumer replaced, a dead letter). */
  warn(fields: LogFields, message: string): void;
  /** Something went wrong that an operator must look at (a stop that timed out, a crash). */
  error(fields: LogFields, message: string): void;
  /** A logger adding `bindings` to every event. */
  child(bindings: LogFields): Logger;
}

const rank: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 99 };

/** Where JsonLogger writes; default standard error. */
export type LogSink = (line: string) => void;

let stderrGuarded = false;

/**
 * The default sink. A write error of standard error (its reader went away: EPIPE) would otherwise
 * be an unhandled 'error' event that ends the process; the first write installs a listener that
 * ignores them (log lines are then lost, the service goes on).
 */
function writeToStderr(line: string): void {
  if (!stderrGuarded) {
    stderrGuarded = true;
    process.stderr.on('error', () => undefined);
  }
  process.stderr.write(line);
}

/**
 * The default logger: one JSON line per event (`time`, `level`, `msg`, then the fields) at `level`
 * and above. A field that cannot be encoded (a cycle, a BigInt) is written as its description.
 */
export class JsonLogger implements Logger {
  readonly level: LogLevel;
  readonly #sink: LogSink;
  readonly #bindings: LogFields;

  constructor(options: { level?: LogLevel; sink?: LogSink; bindings?: LogFields } = {}) {
    this.level = options.level ?? 'info';
    this.#sink = options.sink ?? writeToStderr;
    this.#bindings = options.bindings ?? {};
  }

  debug(fields: LogFields, message: string): void {
    this.#write('debug', fields, message);
  }

  info(fields: LogFields, message: string): void {
    this.#write('info', fields, message);
  }

  warn(fields: LogFields, message: string): void {
    this.#write('warn', fields, message);
  }

  error(fields: LogFields, message: string): void {
    this.#write('error', fields, message);
  }

  child(bindings: LogFields): Logger {
    return new JsonLogger({ level: this.level, sink: this.#sink, bindings: { ...this.#bindings, ...bindings } });
  }

  #write(level: Exclude<LogLevel, 'silent'>, fields: LogFields, message: string): void {
    if (rank[level] < rank[this.level]) return;
    const event = { time: new Date().toISOString(), level, msg: message, ...this.#bindings, ...fields };
    let line: string;
    try {
      line = JSON.stringify(event, (_key, value: unknown) => (typeof value === 'bigint' ? value.toString() : value));
    } catch {
      line = JSON.stringify({ time: event.time, level, msg: message, fields: '[unencodable]' });
    }
    try {
      this.#sink(`${line}\n`);
    } catch {
      // A logger never fails the work it reports on.
    }
  }
}

/** A logger that drops everything. */
export const silentLogger: Logger = new JsonLogger({ level: 'silent' });

const defaults = new WeakMap<object, Logger>();

/**
 * The logger of a service: `config.logger` when given (any object with the Logger methods, pino
 * included), else a JsonLogger on standard error at `config.logLevel`, or the environment's
 * MICRO_FRAMEWORK_LOG_LEVEL, or `info`.
 */
export function loggerOf(config: Readonly<Record<string, unknown>>): Logger {
  const given = config['logger'];
  if (isLogger(given)) return given;
  let logger = defaults.get(config);
  if (!logger) {
    const level = config['logLevel'] ?? process.env['MICRO_FRAMEWORK_LOG_LEVEL'];
    logger = new JsonLogger({ level: typeof level === 'string' && level in rank ? (level as LogLevel) : 'info' });
    defaults.set(config, logger);
  }
  return logger;
}

function isLogger(value: unknown): value is Logger {
  if (typeof value !== 'object' || value === null) return false;
  const candidate = value as Record<string, unknown>;
  return ['debug', 'info', 'warn', 'error', 'child'].every((method) => typeof candidate[method] === 'function');
}
