// A queued command as the agent receives it, whichever way it goes (push, heartbeat, long poll).

import type { CommandRecord, ExecuteRequest } from '../protocol/wire.ts';

export function executeRequestOf(c: CommandRecord): ExecuteRequest {
  return {
    command_id: c.id, command: c.command, args: c.args, timeout: c.timeout,
    ...(c.env ? { env: c.env } : {}),
    ...(c.cwd ? { cwd: c.cwd } : {}),
    ...(c.upgrade ? { upgrade: c.upgrade } : {}),
  };
}
