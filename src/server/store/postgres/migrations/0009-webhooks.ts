// Migration 0009-webhooks (PostgreSQL). Applied once, in order; never edit one that has shipped.
export default `
-- SQLite's migration 0011, with the same meaning.
-- Webhooks (myx webhooks add): where events go, which, and the secret they are signed with (kept
-- because it must be used, like an agent token; never shown after it was made).
CREATE TABLE webhooks (
  id text COLLATE "C" PRIMARY KEY,
  url text COLLATE "C" NOT NULL,
  events text COLLATE "C" NOT NULL,
  secret text COLLATE "C" NOT NULL,
  fingerprint text COLLATE "C",
  created_at text COLLATE "C" NOT NULL,
  created_by text COLLATE "C"
);

-- One event on its way to one webhook: claimed for one attempt at a time (claim, claimed_until;
-- FOR UPDATE SKIP LOCKED, so any replica sends it, one at a time), retried until delivered or out
-- of attempts. event_id names the event (the same for every webhook and attempt).
CREATE TABLE webhook_deliveries (
  id text COLLATE "C" PRIMARY KEY,
  webhook_id text COLLATE "C" NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
  event text COLLATE "C" NOT NULL,
  event_id text COLLATE "C" NOT NULL,
  subject_id text COLLATE "C" NOT NULL,
  state text COLLATE "C" NOT NULL CHECK (state IN ('pending', 'sending', 'delivered', 'failed')),
  attempts integer NOT NULL DEFAULT 0,
  created_at text COLLATE "C" NOT NULL,
  next_attempt_at text COLLATE "C",
  claim text COLLATE "C",
  claimed_until text COLLATE "C",
  last_attempt_at text COLLATE "C",
  last_status integer,
  last_error text COLLATE "C",
  delivered_at text COLLATE "C",
  history text COLLATE "C" NOT NULL DEFAULT '[]',
  UNIQUE (webhook_id, event_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (state, next_attempt_at);
CREATE INDEX webhook_deliveries_of ON webhook_deliveries (webhook_id, created_at);
-- the sweeper drops deliveries that are over, 30 days on
CREATE INDEX webhook_deliveries_over ON webhook_deliveries (created_at) WHERE state IN ('delivered', 'failed');

-- Events are enqueued by the writes themselves, whichever store method makes them (STYLE.md 13):
-- command.finished from the write that ends a command (or creates it ended), for the webhooks
-- that hear it; run.finished from the write that creates a run, for those that hear that, due once
-- no command of the run is unfinished (the claim checks), so no two writes ever enqueue one event
-- (and none waits for another's). The webhooks read are locked FOR KEY SHARE: one being removed
-- meanwhile is waited for and skipped, never referenced after it is gone.
CREATE FUNCTION myx_enqueue_webhook_event() RETURNS trigger LANGUAGE plpgsql AS $fn$
DECLARE
  ev text := TG_ARGV[0];
BEGIN
  INSERT INTO webhook_deliveries (id, webhook_id, event, event_id, subject_id, state, created_at)
    SELECT 'whd_' || substr(replace(gen_random_uuid()::text, '-', ''), 1, 24), w.id, ev, ev || '/' || NEW.id, NEW.id, 'pending',
      to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
    FROM webhooks w WHERE w.events::jsonb ? ev
    FOR KEY SHARE OF w
  ON CONFLICT (webhook_id, event_id) DO NOTHING;
  RETURN NULL;
END
$fn$;
CREATE TRIGGER commands_ended_webhooks AFTER UPDATE OF status ON commands FOR EACH ROW
  WHEN (NEW.status IN ('succeeded', 'failed', 'timed_out', 'cancelled', 'expired', 'lost', 'skipped')
    AND OLD.status NOT IN ('succeeded', 'failed', 'timed_out', 'cancelled', 'expired', 'lost', 'skipped'))
  EXECUTE FUNCTION myx_enqueue_webhook_event('command.finished');
CREATE TRIGGER commands_created_ended_webhooks AFTER INSERT ON commands FOR EACH ROW
  WHEN (NEW.status IN ('succeeded', 'failed', 'timed_out', 'cancelled', 'expired', 'lost', 'skipped'))
  EXECUTE FUNCTION myx_enqueue_webhook_event('command.finished');
CREATE TRIGGER runs_created_webhooks AFTER INSERT ON runs FOR EACH ROW
  EXECUTE FUNCTION myx_enqueue_webhook_event('run.finished');
`;
