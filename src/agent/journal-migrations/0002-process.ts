// Migration 0002-process. Applied once, in order; never edit one that has shipped.
export default `
-- The process group of a running command, so a restarted agent can stop what its previous run
-- left behind (identified by pid and start time, never by pid alone).
ALTER TABLE commands ADD COLUMN pid INTEGER;
ALTER TABLE commands ADD COLUMN pid_start TEXT;
`;
