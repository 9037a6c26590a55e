// Migration 0010-claims. Applied once, in order; never edit one that has shipped.
export default `
-- A poll or heartbeat hand-out holds a claim too (a hand-out that never reached its agent gives
-- back its own commands, never those a later claim took after the lease ran out): one column for
-- the claim of whoever holds the command, push or hand-out.
ALTER TABLE commands RENAME COLUMN push_claim TO claim;
`;
