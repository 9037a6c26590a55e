// Migration 0010-live-commands. Applied once, in order; never edit one that has shipped.
export default `
-- The live commands alone, by status and age: the metrics count them (and find the oldest queued)
-- without reading the history.
CREATE INDEX commands_live ON commands (status, created_at) WHERE status IN ('waiting', 'queued', 'dispatched', 'running');
`;
