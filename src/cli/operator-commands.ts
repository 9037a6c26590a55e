// `myx operators add | list | remove | rotate`: named operators with a role and a scope (admins
// only). A token is printed once, when it is made; the control plane keeps only its hash.

import { Option, type Command } from 'commander';
import { displayText } from '../protocol/display-text.ts';
import { OPERATOR_ROLES, scopeText } from '../protocol/roles.ts';
import type { OperatorRole } from '../protocol/roles.ts';
import type { OperatorTokenResponse, OperatorView } from '../protocol/wire.ts';
import { client, flagsOf, json, withConnection } from './command-setup.ts';
import type { ConnectionFlags } from './operator-client.ts';
import { collect, parseLabels } from './target-flags.ts';

export function addOperatorCommands(program: Command): void {
  const operators = withConnection(program.command('operators')).description('named operators, their roles and scopes: add, list, remove, rotate (admins)');
  withConnection(operators.command('add'))
    .description('add an operator and print its token, this once (only its hash is kept)')
    .argument('<name>', 'a name for the person or service account (letters, digits, . _ - @)')
    .addOption(new Option('--role <role>', 'viewer: reads; operator: also runs and cancels commands; admin: everything').choices([...OPERATOR_ROLES]).makeOptionMandatory())
    .addOption(new Option('--scope <key=value>', 'only agents carrying this label (repeatable: all must match); viewers and operators').argParser(collect))
    .option('--json', 'print {"operator", "token"}')
    .action(async (name: string, _o: unknown, cmd: Command) => {
      const o = flagsOf<ConnectionFlags & { role: OperatorRole; scope?: string[]; json?: boolean }>(cmd);
      const scope = parseLabels(o.scope ?? []);
      const c = await client(o);
      const res = await c.addOperator({ name, role: o.role, ...(o.scope?.length ? { scope } : {}) });
      await c.close();
      if (o.json) json(res);
      else process.stdout.write(tokenText(res, 'added'));
    });
  withConnection(operators.command('list'))
    .description('list operators: name, role, scope, created, last used (never a token)')
    .option('--json', 'print the operator records as JSON')
    .action(async (_o: unknown, cmd: Command) => {
      const o = flagsOf<ConnectionFlags & { json?: boolean }>(cmd);
      const c = await client(o);
      const list = await c.operators();
      await c.close();
      if (o.json) json(list);
      else process.stdout.write(operatorsTable(list));
    });
  withConnection(operators.command('remove'))
    .description('remove an operator: its token and its console sessions stop working at once')
    .argument('<name>')
    .action(async (name: string, _o: unknown, cmd: Command) => {
      const c = await client(flagsOf<ConnectionFlags>(cmd));
      const res = await c.removeOperator(name);
      await c.close();
      const sessions = res.sessions_ended === 0 ? '' : ` and its ${res.sessions_ended} console session${res.sessions_ended === 1 ? '' : 's'}`;
      process.stdout.write(displayText(`removed operator ${res.removed}: its token${sessions} no longer work${sessions ? '' : 's'}`) + '\n');
    });
  withConnection(operators.command('rotate'))
    .description('give an operator a new token, printed this once; the old one (and its console sessions) stop working')
    .argument('<name>')
    .option('--json', 'print {"operator", "token"}')
    .action(async (name: string, _o: unknown, cmd: Command) => {
      const o = flagsOf<ConnectionFlags & { json?: boolean }>(cmd);
      const c = await client(o);
      const res = await c.rotateOperator(name);
      await c.close();
      if (o.json) json(res);
      else process.stdout.write(tokenText(res, 'rotated'));
    });
}

function tokenText(res: OperatorTokenResponse, what: 'added' | 'rotated'): string {
  const op = res.operator;
  const head = what === 'added'
    ? `Operator ${op.name} added (${op.role}, scope: ${scopeText(op.scope)}). Its token, shown this once (only its hash is kept):`
    : `Operator ${op.name} has a new token; the old one and its console sessions no longer work. The new one, shown this once:`;
  const self = res.self
    ? '\nThat was your own token: use this one from now on (if it came from a data dir\'s operator.token, write this one there, mode 0600).\n'
    : '';
  return `${displayText(head)}\n  ${res.token}\n\nUse it with MYX_TOKEN (with --server and --fingerprint, or MYX_SERVER and MYX_SERVER_FINGERPRINT), or sign in to the web console with it.\n${self}`;
}

const when = (iso: string | null) => (iso === null ? 'never' : iso.replace('T', ' ').slice(0, 19));

function operatorsTable(list: OperatorView[]): string {
  const head = ['NAME', 'ROLE', 'SCOPE', 'CREATED', 'LAST USED'];
  const rows = list.map((op) => [op.name, op.role, scopeText(op.scope), when(op.created_at), when(op.last_used_at)].map(displayText));
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  return [line(head), ...rows.map(line)].join('\n') + '\n';
}
