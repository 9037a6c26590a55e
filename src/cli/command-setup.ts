// What every `myx` command that talks to the control plane shares: its connection flags, the
// client built from them, and JSON output safe for a terminal.

import type { Command } from 'commander';
import { displayJson } from '../protocol/display-text.ts';
import type { ConnectionFlags } from './operator-client.ts';

/**
 * The flags that say where the control plane is. A command group (`agents`, `token`) takes them
 * as well as each of its sub-commands, so they work wherever they are written; commander hands
 * them to the group when both define them, so every action reads them with `flagsOf`.
 */
export function withConnection(cmd: Command): Command {
  return cmd
    .option('--data-dir <dir>', 'data dir of a control plane on this host (env MYX_DATA_DIR; default ./myx-data or ./.myx/server)')
    .option('--server <url[,url...]>', 'control plane URL, or the URLs of its replicas, comma-separated (env MYX_SERVER)')
    .option('--token <token>', 'operator token (env MYX_TOKEN)')
    .option('--fingerprint <sha256>', 'control plane certificate fingerprint (env MYX_SERVER_FINGERPRINT)');
}

/** A command's options merged with those its parent groups took (the connection flags among them). */
export function flagsOf<T>(cmd: Command): T {
  return cmd.optsWithGlobals<T & Record<string, unknown>>();
}

export async function client(flags: ConnectionFlags) {
  const { resolveConnection, OperatorClient } = await import('./operator-client.ts');
  return new OperatorClient(await resolveConnection(flags));
}

/** `--json` output: the records as they are, with nothing raw that a terminal would act on. */
export const json = (value: unknown) => process.stdout.write(displayJson(value, 2) + '\n');
