// Migration 0003-upgrades (PostgreSQL). Applied once, in order; never edit one that has shipped.
export default `
-- SQLite's migration 0005, with the same meaning.
-- Upgrade commands (myx agents upgrade): what they install, as JSON {version, sha256, size};
-- NULL for a command that runs a program. While an agent's upgrade is handed out or running,
-- nothing else is handed to that agent: the index finds such an upgrade quickly.
ALTER TABLE commands ADD COLUMN upgrade text COLLATE "C";
CREATE INDEX commands_upgrading ON commands (agent_id) WHERE upgrade IS NOT NULL AND status IN ('dispatched', 'running');
`;
