// Migration 0005-upgrades. Applied once, in order; never edit one that has shipped.
export default `
-- Upgrade commands (myx agents upgrade): what they install, as JSON {version, sha256, size};
-- NULL for a command that runs a program. While an agent's upgrade is handed out or running,
-- nothing else is handed to that agent: the index finds such an upgrade quickly.
ALTER TABLE commands ADD COLUMN upgrade TEXT;
CREATE INDEX commands_upgrading ON commands (agent_id) WHERE upgrade IS NOT NULL AND status IN ('dispatched', 'running');
`;
