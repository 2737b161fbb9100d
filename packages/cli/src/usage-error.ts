/** A command line mistake (bad JSON, a missing option, nothing by that name): printed without a stack, exit code 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}
