// `myx token create | list | revoke`: enrollment tokens, by id; a secret is shown once, when created.

import type { Command } from 'commander';
import { displayText } from '../protocol/display-text.ts';
import { client, flagsOf, json, withConnection } from './command-setup.ts';
import { CliError, EXIT, parseDuration } from './fail.ts';
import type { ConnectionFlags } from './operator-client.ts';
import type { EnrollmentTokenResponse } from '../protocol/wire.ts';

export function addTokenCommands(program: Command): void {
  const token = withConnection(program.command('token')).description('enrollment tokens: create, list, revoke');
  withConnection(token.command('create'))
    .description('create a one-time enrollment token and print the line that enrolls an agent')
    .option('--ttl <duration>', 'how long the token stays valid (90s, 15m, 1h, 2d; at most 7d)', '1h')
    .option('--json', 'print {"id", "token", "expires_at", "join", "install"}')
    .action(async (_o: unknown, cmd: Command) => {
      const o = flagsOf<ConnectionFlags & { ttl: string; json?: boolean }>(cmd);
      const ttl = parseDuration(o.ttl, '--ttl');
      const c = await client(o);
      const t = await c.createEnrollmentToken(ttl);
      await c.close();
      if (o.json) json(t);
      else process.stdout.write(createdText(t));
    });
  withConnection(token.command('list'))
    .description('list enrollment tokens, newest first: id, state (usable, used, expired, revoked), times; never the secret')
    .option('--limit <n>', 'how many', '100')
    .option('--json', 'print the token records as JSON')
    .action(async (_o: unknown, cmd: Command) => {
      const o = flagsOf<ConnectionFlags & { limit: string; json?: boolean }>(cmd);
      const limit = Number(o.limit);
      if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw new CliError('--limit must be a whole number from 1 to 1000');
      const c = await client(o);
      const list = await c.enrollmentTokens(limit);
      await c.close();
      if (o.json) json(list);
      else process.stdout.write((await import('./command-views.ts')).tokensTable(list));
    });
  withConnection(token.command('revoke'))
    .description('revoke an unused enrollment token: it can no longer enroll an agent')
    .argument('<id>', 'the token\'s id (enr_..., see `myx token list`)')
    .action(async (id: string, _o: unknown, cmd: Command) => {
      const c = await client(flagsOf<ConnectionFlags>(cmd));
      const res = await c.revokeEnrollmentToken(id);
      await c.close();
      const said = {
        revoked: 'revoked: it can no longer enroll an agent',
        already_revoked: 'was revoked already',
        already_expired: 'had expired already (now revoked as well)',
        already_used: `was used already, by agent ${res.token.used_by_agent}: remove the agent instead (\`myx agents remove ${res.token.used_by_agent}\`)`,
      }[res.outcome];
      process.stdout.write(`${displayText(id)} ${said}\n`);
      if (res.outcome === 'already_used') process.exitCode = EXIT.commandFailed;
    });
}

function createdText(t: EnrollmentTokenResponse): string {
  return `Enrollment token ${t.id} (single use, expires ${t.expires_at}; \`myx token revoke ${t.id}\` withdraws it):
  ${t.token}

Install, enroll and start the agent on a new Linux host (it needs curl, sh and systemd; the line trusts
only this control plane; as root, leave out \`sudo\`):
  ${t.install}
Options go after the final \`--\`: --name web-01 (default: the host's name), --label env=prod (repeatable),
--no-web (poll mode), --web-port N, --no-start (install only); --help lists them all.

Or, on a host that has myx-agent already:
  ${t.join}
then start the agent there with:  myx-agent
`;
}
