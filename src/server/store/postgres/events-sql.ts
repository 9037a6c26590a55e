// Publishing the store's events from the write itself (STYLE.md 13): the SQL below goes into the
// RETURNING of the statement that changes the rows, so the event and the change commit together,
// and NOTIFY delivers it to every replica's listening session only once they did. Payloads are
// small JSON arrays of ids and offsets (store-events.ts decodes them; NOTIFY allows 8000 bytes).

import type { Db } from './pool.ts';

export const EVENTS_CHANNEL = 'myx_events';

const notify = (fields: string) => `pg_notify('${EVENTS_CHANNEL}', json_build_array(${fields})::text) AS notified`;

/** A `command` event for the changed row of commands aliased `alias` (its status after the change). */
export const commandEvent = (alias: string): string => notify(`'c', ${alias}.id, ${alias}.agent_id, ${alias}.status`);
/** A `command` event for the changed row of commands aliased `c`. */
export const COMMAND_EVENT = commandEvent('c');
/** A `cancel` event for the row of commands aliased `c`. */
export const CANCEL_EVENT = notify(`'x', c.id, c.agent_id`);
/** An `agent` event for the agent whose id is `expr`. */
export const agentEvent = (expr: string): string => notify(`'a', ${expr}`);

/** An `output` event: [offset, next) of the command's output is new. Inside the append's transaction. */
export async function publishOutput(db: Db, commandId: string, offset: number, next: number): Promise<void> {
  await db.query(`SELECT ${notify(`'o', $1::text, $2::bigint, $3::bigint`)}`, [commandId, offset, next]);
}
