import { brokerClient, brokerSettings, type BrokerName } from '../brokers.ts';
import { parseArgs, parseKwargs } from '../json-arguments.ts';
import { readable, type Output } from '../output.ts';
import { reportError } from '../remote-failure.ts';

export interface CallOptions {
  readonly broker: BrokerName;
  readonly url?: string;
  /** --broker-options: a JSON file or module with the adapter's options (tls, credentials...). */
  readonly brokerOptions?: string;
  readonly kwargs?: string;
  readonly timeout: number;
  readonly json?: boolean;
}

/**
 * `call <service> <target> [args]`: calls an RPC target and prints its reply. Exit 0 with the reply;
 * 1 when the call failed (a remote error with its name and message, a timeout, nobody answering).
 */
export async function callCommand(service: string, target: string, args: string | undefined, options: CallOptions, output: Output): Promise<number> {
  const positional = parseArgs(args);
  const kwargs = parseKwargs(options.kwargs);
  const broker = await brokerClient(await brokerSettings(options.broker, options.url, options.brokerOptions));
  try {
    const client = await broker.rpcClient();
    const reply = await client.call(service, target, positional, { kwargs, timeoutMs: options.timeout });
    output.out(options.json ? JSON.stringify(reply ?? null) : readable(reply));
    return 0;
  } catch (error) {
    const failure = reportError(error);
    if (options.json) output.err(JSON.stringify({ error: failure }));
    else if (failure.remoteName) output.err(`${service}.${target} raised ${failure.remoteName}: ${failure.message}`);
    else output.err(`${failure.name}: ${failure.message}`);
    return 1;
  } finally {
    await broker.close();
  }
}
