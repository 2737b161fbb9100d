import { describeError } from '@micro-framework/core';

/** An error as the command line reports it: a name, a message, and the remote name when the far side raised it. */
export interface ReportedError {
  readonly name: string;
  readonly message: string;
  readonly remoteName?: string;
}

/** Reads any thrown value safely (RemoteError's remoteName and remoteMessage included). */
export function reportError(error: unknown): ReportedError {
  const { name, message } = describeError(error);
  const remote = error as { remoteName?: unknown; remoteMessage?: unknown };
  if (typeof remote.remoteName === 'string') return { name, message: String(remote.remoteMessage ?? message), remoteName: remote.remoteName };
  return { name, message };
}
