// Migration 0011-webhooks. Applied once, in order; never edit one that has shipped.
export default `
-- Webhooks (myx webhooks add): where events go, which, and the secret they are signed with (kept
-- because it must be used, like an agent token; never shown after it was made).
CREATE TABLE webhooks (
  id TEXT PRIMARY KEY,
  url TEXT NOT NULL,
  events TEXT NOT NULL,
  secret TEXT NOT NULL,
  fingerprint TEXT,
  created_at TEXT NOT NULL,
  created_by TEXT
);

-- One event on its way to one webhook: claimed for one attempt at a time (claim, claimed_until),
-- retried until delivered or out of attempts. event_id names the event (the same for every
-- webhook and attempt); a webhook gets each event once.
CREATE TABLE webhook_deliveries (
  id TEXT PRIMARY KEY,
  webhook_id TEXT NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
  event TEXT NOT NULL,
  event_id TEXT NOT NULL,
  subject_id TEXT NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('pending', 'sending', 'delivered', 'failed')),
  attempts INTEGER NOT NULL DEFAULT 0,
  created_at TEXT NOT NULL,
  next_attempt_at TEXT,
  claim TEXT,
  claimed_until TEXT,
  last_attempt_at TEXT,
  last_status INTEGER,
  last_error TEXT,
  delivered_at TEXT,
  history TEXT NOT NULL DEFAULT '[]',
  UNIQUE (webhook_id, event_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (state, next_attempt_at);
CREATE INDEX webhook_deliveries_of ON webhook_deliveries (webhook_id, created_at);
-- the sweeper drops deliveries that are over, 30 days on
CREATE INDEX webhook_deliveries_over ON webhook_deliveries (created_at) WHERE state IN ('delivered', 'failed');

-- Events are enqueued by the writes themselves, whichever store method makes them (STYLE.md 13):
-- command.finished from the write that ends a command (or creates it ended), for the webhooks
-- that hear it; run.finished from the write that creates a run, for those that hear that, due once
-- no command of the run is unfinished (the claim checks), so no two writes ever enqueue one event.
CREATE TRIGGER commands_ended_webhooks AFTER UPDATE OF status ON commands
WHEN NEW.status IN ('succeeded', 'failed', 'timed_out', 'cancelled', 'expired', 'lost', 'skipped')
  AND OLD.status NOT IN ('succeeded', 'failed', 'timed_out', 'cancelled', 'expired', 'lost', 'skipped')
BEGIN
  INSERT OR IGNORE INTO webhook_deliveries (id, webhook_id, event, event_id, subject_id, state, created_at)
    SELECT 'whd_' || lower(hex(randomblob(12))), w.id, 'command.finished', 'command.finished/' || NEW.id, NEW.id, 'pending', strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
    FROM webhooks w WHERE EXISTS (SELECT 1 FROM json_each(w.events) e WHERE e.value = 'command.finished');
END;
CREATE TRIGGER commands_created_ended_webhooks AFTER INSERT ON commands
WHEN NEW.status IN ('succeeded', 'failed', 'timed_out', 'cancelled', 'expired', 'lost', 'skipped')
BEGIN
  INSERT OR IGNORE INTO webhook_deliveries (id, webhook_id, event, event_id, subject_id, state, created_at)
    SELECT 'whd_' || lower(hex(randomblob(12))), w.id, 'command.finished', 'command.finished/' || NEW.id, NEW.id, 'pending', strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
    FROM webhooks w WHERE EXISTS (SELECT 1 FROM json_each(w.events) e WHERE e.value = 'command.finished');
END;
CREATE TRIGGER runs_created_webhooks AFTER INSERT ON runs
BEGIN
  INSERT OR IGNORE INTO webhook_deliveries (id, webhook_id, event, event_id, subject_id, state, created_at)
    SELECT 'whd_' || lower(hex(randomblob(12))), w.id, 'run.finished', 'run.finished/' || NEW.id, NEW.id, 'pending', strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
    FROM webhooks w WHERE EXISTS (SELECT 1 FROM json_each(w.events) e WHERE e.value = 'run.finished');
END;
`;
