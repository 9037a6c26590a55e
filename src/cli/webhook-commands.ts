// `myx webhooks add | list | remove | deliveries` (admins): where the control plane POSTs signed
// events (run.finished, command.finished), and what became of each delivery. A secret the control
// plane makes is printed once; the list never shows one.

import type { Command } from 'commander';
import { displayText } from '../protocol/display-text.ts';
import { WEBHOOK_EVENTS, type WebhookEventType } from '../protocol/webhooks.ts';
import type { AddWebhookResponse, WebhookDeliveryView, WebhookView } from '../protocol/wire.ts';
import { client, flagsOf, json, withConnection } from './command-setup.ts';
import { env } from './env.ts';
import { CliError } from './fail.ts';
import type { ConnectionFlags } from './operator-client.ts';

export function addWebhookCommands(program: Command): void {
  const webhooks = withConnection(program.command('webhooks')).description('webhooks: signed events POSTed when runs and commands finish (admins)');
  withConnection(webhooks.command('add'))
    .description('add a webhook: the control plane POSTs each event, signed (X-Myx-Signature), and retries with back-off until the receiver answers 2xx')
    .argument('<url>', 'http:// or https:// URL of the receiver')
    .requiredOption('--events <events>', `what it hears, comma-separated: ${WEBHOOK_EVENTS.join(', ')}`)
    .option('--secret <secret>', 'the HMAC key to sign with (env MYX_WEBHOOK_SECRET, which keeps it out of the process list; default: a new one, printed once)')
    .option('--pin <sha256>', 'an https:// receiver\'s certificate fingerprint, trusted instead of certificate authorities')
    .option('--json', 'print {"webhook", "secret"}')
    .action(async (url: string, _o: unknown, cmd: Command) => {
      const o = flagsOf<ConnectionFlags & { events: string; secret?: string; pin?: string; json?: boolean }>(cmd);
      const events = o.events.split(',').map((e) => e.trim()).filter(Boolean);
      const unknown = events.filter((e) => !(WEBHOOK_EVENTS as readonly string[]).includes(e));
      if (events.length === 0 || unknown.length > 0) throw new CliError(`--events takes ${WEBHOOK_EVENTS.join(', ')} (comma-separated); got "${o.events}"`);
      const secret = o.secret ?? env.webhookSecret;
      const c = await client(o);
      const res = await c.addWebhook({ url, events: [...new Set(events)] as WebhookEventType[], ...(secret ? { secret } : {}), ...(o.pin ? { fingerprint: o.pin } : {}) });
      await c.close();
      if (o.json) json(res);
      else process.stdout.write(addedText(res));
    });
  withConnection(webhooks.command('list'))
    .description('list webhooks: id, URL, events, pinned certificate, created (never a secret)')
    .option('--json', 'print the webhook records as JSON')
    .action(async (_o: unknown, cmd: Command) => {
      const o = flagsOf<ConnectionFlags & { json?: boolean }>(cmd);
      const c = await client(o);
      const list = await c.webhooks();
      await c.close();
      if (o.json) json(list);
      else process.stdout.write(webhooksTable(list));
    });
  withConnection(webhooks.command('remove'))
    .description('remove a webhook: it hears nothing more, and its deliveries not made yet are dropped')
    .argument('<id>')
    .action(async (id: string, _o: unknown, cmd: Command) => {
      const c = await client(flagsOf<ConnectionFlags>(cmd));
      const res = await c.removeWebhook(id);
      await c.close();
      process.stdout.write(`removed webhook ${res.removed}${res.undelivered ? `; ${res.undelivered} deliveries not made were dropped` : ''}\n`);
    });
  withConnection(webhooks.command('deliveries'))
    .description('a webhook\'s deliveries, newest first: event, state, attempts, last answer or error')
    .argument('<id>')
    .option('--limit <n>', 'how many', '50')
    .option('--json', 'print the delivery records (with each attempt) as JSON')
    .action(async (id: string, _o: unknown, cmd: Command) => {
      const o = flagsOf<ConnectionFlags & { limit: string; json?: boolean }>(cmd);
      const limit = Number(o.limit);
      if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw new CliError('--limit must be a whole number from 1 to 1000');
      const c = await client(o);
      const list = await c.webhookDeliveries(id, limit);
      await c.close();
      if (o.json) json(list);
      else process.stdout.write(deliveriesTable(list));
    });
}

function addedText(res: AddWebhookResponse): string {
  const w = res.webhook;
  const head = displayText(`Webhook ${w.id} added: ${w.events.join(', ')} to ${w.url}${w.fingerprint ? ` (certificate pinned: ${w.fingerprint})` : ''}`);
  if (res.secret === null) return `${head}\nDeliveries are signed with the secret you gave (X-Myx-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "t.body">).\n`;
  return `${head}\nIts secret, shown this once (the control plane keeps it to sign with; check X-Myx-Signature with it):\n  ${res.secret}\n`;
}

const when = (iso: string | null) => (iso === null ? '-' : iso.replace('T', ' ').slice(0, 19));

function table(head: string[], rows: string[][]): string {
  const cells = rows.map((r) => r.map((c) => displayText(c)));
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  return [line(head), ...cells.map(line)].join('\n') + '\n';
}

function webhooksTable(list: WebhookView[]): string {
  if (list.length === 0) return 'No webhooks. Add one with `myx webhooks add URL --events run.finished,command.finished`.\n';
  return table(['ID', 'URL', 'EVENTS', 'PINNED', 'CREATED', 'BY'], list.map((w) => [w.id, w.url, w.events.join(','), w.fingerprint ? 'yes' : '-', when(w.created_at), w.created_by ?? '-']));
}

function deliveriesTable(list: WebhookDeliveryView[]): string {
  if (list.length === 0) return 'No deliveries yet.\n';
  return table(['ID', 'EVENT', 'SUBJECT', 'STATE', 'ATTEMPTS', 'LAST', 'NEXT', 'CREATED'], list.map((d) => [
    d.id, d.event, d.subject_id, d.state, String(d.attempts),
    d.last_attempt_at === null ? '-' : d.last_error ?? `HTTP ${d.last_status}`, d.state === 'pending' ? when(d.next_attempt_at) : '-', when(d.created_at),
  ]));
}
