// The store contract (store.ts) under concurrency: two instances on one database, as two
// control-plane replicas would be, call the same methods at the same time, many times over; the
// outcome must be as if the calls ran one after the other. SQLite's second instance runs in a
// worker thread so that the two really overlap.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { CommandRecord, CommandResult } from '../src/protocol/wire.ts';
import type { AppendOutcome, DroppedOutput } from '../src/server/store/output-store.ts';
import {
  REMOVAL_REASONS, type CancelOutcome, type CreateTokenOutcome, type EnrollOutcome, type HandOut, type NewAgent, type NewCommand,
  type RemoveOutcome, type ResultOutcome, type RevokeTokenOutcome, type Store,
} from '../src/server/store/store.ts';
import { BACKENDS, type Backend } from './store-backends.ts';
import type { StoreEvent } from '../src/server/store/store-events.ts';
import { callEach } from './store-worker.ts';
import type { AuditDraft } from '../src/protocol/audit.ts';
import type { AuditEntry } from '../src/protocol/wire.ts';
import type { ClaimedDelivery } from '../src/server/store/webhook-store.ts';
import { checkChain } from '../src/server/audit-verify.ts';

const NOW = '2026-01-01T00:00:00.000Z';
const LEASE = '2026-01-01T00:00:30.000Z';
const AFTER_LEASE = '2026-01-01T00:01:00.000Z';
const EXPIRES = '2026-01-01T01:00:00.000Z';
const AFTER_EXPIRY = '2026-01-01T02:00:00.000Z';

type T = Parameters<Backend['open']>[0];

function agent(id: string, name = id): NewAgent {
  return {
    id, name, token: `tok-${id}`, tokenHash: `hash-${id}`, hostname: 'h', os: 'linux', version: '0', mode: 'web',
    web_port: 8443, fingerprint: null, advertise_address: null, labels: {}, remote_address: '127.0.0.1',
  };
}

const result = (stdout: string, status: CommandResult['status'] = 'succeeded'): CommandResult => ({
  status, exit_code: status === 'succeeded' ? 0 : 1, signal: null, stdout, stderr: '', stdout_bytes: stdout.length, stderr_bytes: 0,
  stdout_truncated: false, stderr_truncated: false, error: null, started_at: NOW, finished_at: NOW,
});

/** An enrollment token whose hash is `hash` and id `id-<hash>`. */
async function token(s: Store, hash: string) {
  assert.deepEqual(await s.createEnrollmentToken({ id: `id-${hash}`, tokenHash: hash, expiresAt: EXPIRES }, NOW, 1_000_000), { ok: true });
}

/** Two instances on one fresh database, and an agent `a1` enrolled through the first. */
async function twoReplicas(backend: Backend, t: T): Promise<[Store, Store]> {
  const db = await backend.fresh(t);
  const a = await backend.open(t, db);
  const b = await backend.openParallel(t, db);
  await token(a, 'e-a1');
  assert.equal((await a.enrollAgent('e-a1', agent('a1'), NOW)).ok, true);
  return [a, b];
}

/** A run of `n` commands for a1 (or `agentId`); the first `queued` are queued, the rest wait for rate control. */
async function createRun(s: Store, id: string, n: number, opts: { queued?: number; maxConcurrency?: number; maxErrors?: number; agentId?: string } = {}) {
  const commands: NewCommand[] = Array.from({ length: n }, (_, i) => ({
    id: `${id}-c${String(i).padStart(4, '0')}`, status: i < (opts.queued ?? n) ? 'queued' : 'waiting', agent_id: opts.agentId ?? 'a1',
    command: 'echo', args: [], timeout: 5, env: null, cwd: null, expires_at: EXPIRES,
  }));
  await s.createRun({ id, command: 'echo', args: [], target: 'test', max_concurrency: opts.maxConcurrency ?? null, max_errors: opts.maxErrors ?? null, requested_by: 'tester' }, commands, NOW);
  return commands.map((c) => c.id);
}

/** Each of `ids` exactly once in `got`. */
function assertEachOnce(got: string[], ids: string[], what: string) {
  const counts = new Map<string, number>();
  for (const id of got) counts.set(id, (counts.get(id) ?? 0) + 1);
  const twice = [...counts].filter(([, n]) => n > 1).map(([id]) => id);
  assert.deepEqual(twice, [], `${what}: handed out more than once`);
  assert.deepEqual([...counts.keys()].sort(), [...ids].sort(), `${what}: each exactly once`);
}

/**
 * `workers` loops per instance, all at once, each calling `step` until it says it is done. Bounded:
 * a loop that would never end fails the test, and one failing loop stops the others.
 */
async function race(stores: Store[], workers: number, step: (s: Store, who: number) => Promise<boolean>, onStuck?: () => Promise<string>, maxSteps = 5000): Promise<void> {
  let failed = false;
  let steps = 0;
  await Promise.all(stores.flatMap((s, i) => Array.from({ length: workers }, async () => {
    try {
      while (!failed && (await step(s, i))) {
        // An in-thread SqliteStore answers without ever leaving the microtask queue; yield, as a
        // server between requests does, or the worker's answers would never be read.
        await new Promise(setImmediate);
        if (++steps > maxSteps) throw new Error(`no end after ${maxSteps} steps${onStuck ? `: ${await onStuck()}` : ''}`);
      }
    } catch (err) {
      failed = true;
      throw err;
    }
  })));
}

/**
 * Each instance makes its own list of calls (`argsOf(who)`) to one method, all at the same time,
 * in `chains` concurrent chains per instance; results come back per instance in list order.
 */
async function fromBoth<R>(stores: Store[], method: keyof Store, argsOf: (who: number) => unknown[][], chains = 3): Promise<R[][]> {
  return Promise.all(stores.map(async (s, who) => {
    const args = argsOf(who);
    const out: R[] = new Array(args.length);
    await Promise.all(Array.from({ length: chains }, async (_, c) => {
      const mine = args.map((_a, i) => i).filter((i) => i % chains === c);
      const got = await callEach<R>(s, method, mine.map((i) => args[i]!));
      mine.forEach((i, k) => (out[i] = got[k]!));
    }));
    return out;
  }));
}

for (const backend of BACKENDS) {
  describe(`Store contract under concurrency: ${backend.name}`, { skip: backend.skip }, () => {
    test('one enrollment token enrolls one agent, however many replicas try at once', async (t) => {
      const [a, b] = await twoReplicas(backend, t);
      const tokens = Array.from({ length: 60 }, (_, i) => `tok${i}`);
      for (const tok of tokens) await token(a, tok);
      const [fromA, fromB] = await fromBoth<EnrollOutcome>([a, b], 'enrollAgent', (who) => tokens.map((tok) => [tok, agent(`${tok}-${who}`), NOW]));
      tokens.forEach((tok, i) => {
        const kinds = [fromA![i]!, fromB![i]!].map((o) => (o.ok ? 'ok' : o.reason)).sort();
        assert.deepEqual(kinds, ['ok', 'used'], tok);
      });
      assert.equal((await b.listAgents()).length, tokens.length + 1);
    });

    test('one name enrolls once; the losing token stays unused', async (t) => {
      const [a, b] = await twoReplicas(backend, t);
      const names = Array.from({ length: 40 }, (_, i) => `n${i}`);
      for (const n of names) for (const who of [0, 1]) await token(a, `${n}-${who}`);
      const both = await fromBoth<EnrollOutcome>([a, b], 'enrollAgent', (who) => names.map((n) => [`${n}-${who}`, agent(`${n}-id${who}`, n), NOW]));
      for (const [i, n] of names.entries()) {
        const mine = [both[0]![i]!, both[1]![i]!];
        assert.deepEqual(mine.map((o) => (o.ok ? 'ok' : o.reason)).sort(), ['name_taken', 'ok'], n);
        const loser = mine.findIndex((o) => !o.ok);
        assert.equal((await b.enrollAgent(`${n}-${loser}`, agent(`${n}-again`, `${n}-again`), NOW)).ok, true, 'its token still works');
      }
    });

    test('each command is claimed once, by poll or push, from two replicas at once', async (t) => {
      const [a, b] = await twoReplicas(backend, t);
      for (let round = 0; round < 3; round++) {
        const ids = await createRun(a, `r${round}`, 150);
        const pushOrder = [[...ids].reverse(), [...ids].sort(() => Math.random() - 0.5)];
        const [polls, pushes] = await Promise.all([
          fromBoth<HandOut>([a, b], 'claimForAgent', () => Array.from({ length: 15 }, () => ['a1', NOW, LEASE, 7])),
          fromBoth<string | null>([a, b], 'claimForPush', (who) => pushOrder[who]!.map((id) => [id, NOW, LEASE])),
        ]);
        const got = [
          ...polls.flat().flatMap((h) => h.commands).map((c) => c.id),
          ...pushes.flatMap((won, who) => pushOrder[who]!.filter((_, i) => won[i])),
        ];
        assertEachOnce(got, ids, `round ${round}`);
        assert.equal((await b.listCommands({ status: 'queued' })).length, 0);
      }
    });

    test('a result recorded from two replicas at once is recorded once', async (t) => {
      const [a, b] = await twoReplicas(backend, t);
      const ids = await createRun(a, 'r', 150);
      await a.claimForAgent('a1', NOW, LEASE, 1000);
      const both = await fromBoth<ResultOutcome>([a, b], 'recordResult', (who) => ids.map((id) => [id, 'a1', result(`from ${who}`), NOW]));
      const stored = await a.getCommands(ids);
      for (const [i, id] of ids.entries()) {
        const mine = [both[0]![i]!, both[1]![i]!];
        assert.deepEqual(mine.map((o) => o.kind).sort(), ['duplicate', 'recorded'], id);
        assert.equal(stored[i]!.stdout, `from ${mine.findIndex((o) => o.kind === 'recorded')}`, 'the recorded result is the one kept');
        for (const o of mine) assert.equal((o.kind === 'recorded' || o.kind === 'duplicate') && o.command.stdout, stored[i]!.stdout, 'both see it');
      }
    });

    test('rate control advanced from two replicas at once queues no more than --max-concurrency', async (t) => {
      const [a, b] = await twoReplicas(backend, t);
      const runs: { id: string; k: number; ids: string[] }[] = [];
      for (let i = 0; i < 60; i++) {
        const k = 1 + (i % 3);
        runs.push({ id: `r${i}`, k, ids: await createRun(a, `r${i}`, 8, { queued: 0, maxConcurrency: k }) });
      }
      const calls = runs.flatMap((r) => [[r.id, NOW], [r.id, NOW], [r.id, NOW]]);
      type Advanced = Awaited<ReturnType<Store['advanceRun']>>;
      const results = (await Promise.all([a, b, a, b].map((s, i) => callEach<Advanced>(s, 'advanceRun', i < 2 ? calls : [...calls].reverse())))).flat();
      const queued = results.flatMap((r) => r.queued.map((c) => c.id));
      for (const r of runs) {
        const mine = queued.filter((id) => id.startsWith(`${r.id}-`)).sort();
        assert.deepEqual(mine, r.ids.slice(0, r.k), `${r.id}: max_concurrency ${r.k}, the oldest queued once`);
        assert.equal((await b.getRun(r.id))!.counts.queued, r.k);
      }
    });

    test('a rate-controlled run driven to its end from two replicas never exceeds --max-concurrency', async (t) => {
      const [a, b] = await twoReplicas(backend, t);
      const K = 4;
      const ids = await createRun(a, 'r', 80, { queued: K, maxConcurrency: K });
      const queuedBy: string[] = ids.slice(0, K);
      const ran: string[] = [];
      let maxInFlight = 0;
      await race([a, b], 3, async (s) => {
        const claimed = (await s.claimForAgent('a1', NOW, LEASE, 2)).commands;
        for (const c of claimed) {
          ran.push(c.id);
          await s.markStarted(c.id, 'a1', NOW);
          await s.recordResult(c.id, 'a1', result('ok'), NOW);
        }
        const advanced = await s.advanceRun('r', NOW);
        queuedBy.push(...advanced.queued.map((c) => c.id));
        const run = (await s.getRun('r'))!;
        maxInFlight = Math.max(maxInFlight, (run.counts.queued ?? 0) + (run.counts.dispatched ?? 0) + (run.counts.running ?? 0));
        return !run.done;
      }, async () => JSON.stringify({ run: await a.getRun('r'), cmds: (await a.commandsOfRun('r')).filter((c) => c.status !== 'succeeded').map((c) => [c.id, c.status]) }));
      assert.ok(maxInFlight <= K, `in flight at most ${K}, saw ${maxInFlight}`);
      assertEachOnce(queuedBy, ids, 'queued');
      assertEachOnce(ran, ids, 'ran');
      assert.deepEqual((await a.getRun('r'))!.counts, { succeeded: 80 });
    });

    test('--max-errors from two replicas: nothing is queued once the errors reach it', async (t) => {
      const [a, b] = await twoReplicas(backend, t);
      const K = 4;
      const E = 3;
      const ids = await createRun(a, 'r', 60, { queued: K, maxConcurrency: K, maxErrors: E });
      const ran: string[] = [];
      const skipped: string[] = [];
      await race([a, b], 3, async (s) => {
        const claimed = (await s.claimForAgent('a1', NOW, LEASE, 1)).commands;
        for (const c of claimed) {
          ran.push(c.id);
          await s.recordResult(c.id, 'a1', result('boom', 'failed'), NOW);
        }
        skipped.push(...(await s.advanceRun('r', NOW)).skipped.map((c) => c.id));
        return !(await s.getRun('r'))!.done;
      });
      // A command is queued only while fewer than E have failed and fewer than K are in flight.
      assert.ok(ran.length >= E && ran.length <= E - 1 + K, `ran ${ran.length}, expected ${E}..${E - 1 + K}`);
      assertEachOnce([...ran, ...skipped], ids, 'ran or skipped');
      const run = (await a.getRun('r'))!;
      assert.deepEqual([run.done, run.stopped, run.counts.failed, run.counts.skipped], [true, true, ran.length, 60 - ran.length]);
    });

    test('expired leases and delivery TTLs swept from two replicas at once: each command once', async (t) => {
      const [a, b] = await twoReplicas(backend, t);
      const ids: string[] = [];
      for (let r = 0; r < 20; r++) {
        ids.push(...await createRun(a, `r${r}`, 10));
        await a.claimForAgent('a1', NOW, LEASE, 1000); // a sweep finds a few leases at a time, as it would
      }
      const sweep = async (method: 'requeueExpiredLeases' | 'expireQueued', at: string) =>
        (await fromBoth<CommandRecord[]>([a, b], method, () => Array.from({ length: 10 }, () => [at]))).flat(2).map((c) => c.id);
      assertEachOnce(await sweep('requeueExpiredLeases', AFTER_LEASE), ids, 'requeued');
      assertEachOnce(await sweep('expireQueued', AFTER_EXPIRY), ids, 'expired');
      assert.equal((await b.listCommands({ status: 'expired', limit: 1000 })).length, 200);
    });

    test('the same output appended from two replicas at once is kept once', async (t) => {
      const [a, b] = await twoReplicas(backend, t);
      const ids = await createRun(a, 'r', 60);
      const keep = { head_bytes: 10, tail_bytes: 4 };
      const chunks = Array.from({ length: 5 }, (_, i) => ({ offset: i * 3, stream: 'stdout' as const, data: `${i}${i}\n` }));
      // text from an older agent, and pieces of bytes (stderr: its head of 10, then a tail of 4 past a gap)
      const pieces = [0, 4, 8].map((o) => ({ stream: 'stderr' as const, offset: o, at: 100 + o, data: Buffer.from('abcd') }));
      const tail = { stream: 'stderr' as const, offset: 50, at: 150, data: Buffer.from('wxyz!'), tail: true };
      const calls = ids.flatMap((id) => [
        [id, 'a1', { chunks: chunks.slice(0, 3), pieces: pieces.slice(0, 2) }, keep],
        [id, 'a1', { chunks, pieces: [...pieces, tail] }, keep],
      ]);
      const both = await fromBoth<AppendOutcome>([a, b], 'appendOutput', () => calls);
      for (const id of ids) {
        const accepted = both.flatMap((outs) => outs.flatMap((o, i) => (calls[i]![0] === id && o.kind === 'ok' ? [o.accepted] : [])));
        assert.equal(accepted.reduce((x, y) => x + y, 0), 10 + 10 + 4, `${id}: every byte kept once`);
        const stdout = Buffer.concat((await b.readOutput(id, 'stdout', 0, 1000)).map((c) => c.data)).toString();
        const stderr = (await b.readOutput(id, 'stderr', 0, 1000)).map((c) => [c.offset, Buffer.from(c.data).toString()]);
        assert.equal(stdout, '00\n11\n22\n3', `${id} stdout`);
        assert.equal(stderr.map(([o, d]) => `${o}:${d}`).join(' '), '0:abcd 4:abcd 8:ab 50:wxyz', `${id} stderr`);
      }
    });

    test('retention from two replicas at once drops each command\'s output once', async (t) => {
      const [a, b] = await twoReplicas(backend, t);
      const ids = await createRun(a, 'r', 60);
      for (const id of ids) {
        await a.appendOutput(id, 'a1', { chunks: [], pieces: [{ stream: 'stdout', offset: 0, at: 0, data: Buffer.from('0123456789') }] }, { head_bytes: 100, tail_bytes: 10 });
        await a.recordResult(id, 'a1', result('0123456789'), NOW);
      }
      const policy = { finishedBefore: AFTER_EXPIRY, maxTotalBytes: 0 };
      const dropped = (await fromBoth<DroppedOutput[]>([a, b], 'pruneOutput', () => Array.from({ length: 10 }, () => [policy, AFTER_EXPIRY, 7]))).flat(2);
      assertEachOnce(dropped.map((d) => d.command_id), ids, 'dropped');
      for (const id of ids) assert.deepEqual([(await b.outputState(id))!.bytes, (await b.readOutput(id, 'all', 0, 100)).length], [0, 0], id);
    });

    test('a cancel racing a claim either ends the command or reaches whoever claimed it', async (t) => {
      const [a, b] = await twoReplicas(backend, t);
      const ids = await createRun(a, 'r', 150);
      const [claims, cancels] = await Promise.all([
        fromBoth<HandOut>([b], 'claimForAgent', () => Array.from({ length: 30 }, () => ['a1', NOW, LEASE, 5])),
        fromBoth<CancelOutcome>([a], 'requestCancel', () => ids.map((id) => [id, NOW])),
      ]);
      const claimed = new Set(claims.flat().flatMap((h) => h.commands).map((c) => c.id));
      ids.forEach((id, i) => assert.equal(cancels[0]![i]!.kind, claimed.has(id) ? 'requested' : 'cancelled', id));
      assert.deepEqual((await b.pendingCancels('a1')).sort(), [...claimed].sort());
    });

    test('an agent removed on one replica while the other claims, finishes and creates its commands: nothing of it stays unfinished', async (t) => {
      const [a, b] = await twoReplicas(backend, t);
      const agents = Array.from({ length: 30 }, (_, i) => `x${i}`);
      for (const id of agents) {
        await token(a, `e-${id}`);
        assert.equal((await a.enrollAgent(`e-${id}`, agent(id), NOW)).ok, true);
        await createRun(a, `${id}-r0`, 10, { agentId: id });
      }
      const claimed = new Set<string>();
      const finished = new Set<string>();
      let removals: RemoveOutcome[] = [];
      await Promise.all([
        (async () => { [removals] = await fromBoth<RemoveOutcome>([a], 'removeAgent', () => agents.map((id) => [id, NOW]), 2) as [RemoveOutcome[]]; })(),
        ...agents.map(async (id, i) => {
          // b works on each agent as a replica would: claims by poll and push, results, a new run
          const polled = (await callEach<HandOut>(b, 'claimForAgent', [[id, NOW, LEASE, 3]])).map((h) => h.commands);
          const pushed = await callEach<string | null>(b, 'claimForPush', [[`${id}-r0-c0009`, NOW, LEASE]]);
          for (const c of polled[0]!) claimed.add(c.id);
          if (pushed[0]) claimed.add(`${id}-r0-c0009`);
          const first = polled[0]![0];
          if (first && (await callEach<ResultOutcome>(b, 'recordResult', [[first.id, id, result('done'), NOW]]))[0]!.kind === 'recorded') finished.add(first.id);
          await createRun(b, `${id}-r1`, 2 + (i % 3), { agentId: id, queued: 1 });
        }),
      ]);
      assert.deepEqual(removals.map((r) => r.kind), agents.map(() => 'removed'));
      const all = (await a.listCommands({ limit: 10_000 })).filter((c) => c.agent_id !== 'a1');
      const byId = new Map(all.map((c) => [c.id, c]));
      const handedOut = new Set(removals.flatMap((r) => (r.kind === 'removed' ? r.handedOut : [])));
      const ended = new Set(removals.flatMap((r) => (r.kind === 'removed' ? r.ended.map((c) => c.id) : [])));
      for (const c of all) {
        assert.ok(c.status === 'cancelled' || finished.has(c.id), `${c.id} ended (${c.status})`);
        if (finished.has(c.id)) continue;
        // cancelled by the removal itself, or created after it (then cancelled at creation)
        const byRemoval = ended.has(c.id);
        assert.ok(byRemoval || c.id.includes('-r1-'), `${c.id} cancelled by the removal`);
        assert.equal(handedOut.has(c.id), claimed.has(c.id), `${c.id}: the agent is asked to stop exactly what was handed to it`);
        assert.equal(c.error, claimed.has(c.id) ? REMOVAL_REASONS.handedOut : REMOVAL_REASONS.notStarted, c.id);
      }
      for (const id of ended) assert.equal(byId.get(id)?.status, 'cancelled', `${id}: what a removal says it ended is cancelled`);
      assert.deepEqual((await b.listAgents()).map((x) => x.id), ['a1']);
      assert.equal((await b.listAgents('removed')).length, agents.length);
    });

    test('the outstanding enrollment token cap holds with two replicas creating tokens at once', async (t) => {
      const [a, b] = await twoReplicas(backend, t);
      const CAP = 4;
      // Each round's tokens expire when the next round starts, so every round races for CAP places anew.
      const at = (round: number) => new Date(Date.parse(NOW) + round * 60_000).toISOString();
      for (let round = 1; round <= 25; round++) {
        const both = await fromBoth<CreateTokenOutcome>([a, b], 'createEnrollmentToken', (who) =>
          Array.from({ length: 8 }, (_, i) => [{ id: `t${round}-${who}-${i}`, tokenHash: `h${round}-${who}-${i}`, expiresAt: at(round + 1) }, at(round), CAP]), 8);
        assert.equal(both.flat().filter((o) => o.ok).length, CAP, `round ${round}: exactly as many as the cap allows`);
      }
    });

    test('a token revoked on one replica while another enrolls with it is either used or revoked, never both', async (t) => {
      const [a, b] = await twoReplicas(backend, t);
      const hashes = Array.from({ length: 60 }, (_, i) => `rv${i}`);
      for (const h of hashes) await token(a, h);
      const [[enrolls], [revokes]] = await Promise.all([
        fromBoth<EnrollOutcome>([b], 'enrollAgent', () => hashes.map((h) => [h, agent(`${h}-agent`), NOW])),
        fromBoth<RevokeTokenOutcome>([a], 'revokeEnrollmentToken', () => [...hashes].reverse().map((h) => [`id-${h}`, NOW])),
      ]);
      const revokeOf = new Map([...hashes].reverse().map((h, i) => [h, revokes![i]!]));
      hashes.forEach((h, i) => {
        const e = enrolls![i]!;
        const r = revokeOf.get(h)!;
        assert.deepEqual([e.ok ? 'ok' : e.reason, r.kind], e.ok ? ['ok', 'used'] : ['revoked', 'revoked'], h);
      });
    });

    test('audit entries appended from two replicas at once, alone and with runs, form one unbroken chain', async (t) => {
      const [a, b] = await twoReplicas(backend, t);
      const draft = (who: number, i: number): AuditDraft => ({
        at: NOW, actor_kind: 'operator', actor: `op${who}`, actor_id: null, action: 'command.cancel', targets: [`${who}-${i}`], details: { i }, source: null, outcome: 'ok',
      });
      const runOf = (who: number, i: number) => [
        { id: `run-${who}-${i}`, command: 'echo', args: [], target: 'test', max_concurrency: null, max_errors: null, requested_by: `op${who}` },
        [{ id: `cmd-${who}-${i}`, status: 'queued', agent_id: 'a1', command: 'echo', args: [], timeout: 5, env: null, cwd: null, expires_at: EXPIRES }],
        NOW, { ...draft(who, i), action: 'run.create' },
      ];
      await Promise.all([
        fromBoth<AuditEntry>([a, b], 'appendAudit', (who) => Array.from({ length: 40 }, (_, i) => [draft(who, i)]), 4),
        fromBoth<unknown>([a, b], 'createRun', (who) => Array.from({ length: 10 }, (_, i) => runOf(who, i)), 2),
      ]);
      const entries = await b.listAudit({ limit: 1000 });
      assert.deepEqual(entries.map((e) => e.seq), Array.from({ length: 100 }, (_, i) => i + 1), 'seq 1..100, no gap, no duplicate');
      assert.deepEqual(checkChain(entries, await a.auditHead()), [], 'every entry links to the one before it');
      assert.equal(entries.filter((e) => e.action === 'run.create').length, 20, 'each run with its entry');
      assert.equal((await a.listRuns(100)).length, 20);
    });

    test('the last two admins removed from two replicas at once: one of them stays', async (t) => {
      const [a, b] = await twoReplicas(backend, t);
      let survivor: string | undefined;
      for (let round = 0; round < 15; round++) {
        const [x, y] = [`x${round}`, `y${round}`];
        for (const n of [x, y]) assert.equal((await a.addOperator({ id: `op_${n}`, name: n, role: 'admin', scope: {} }, `h-${n}`, NOW)).ok, true);
        if (survivor) assert.equal((await b.removeOperator(survivor)).kind, 'removed', 'x and y are the last two admins now');
        const [ra, rb] = await Promise.all([a.removeOperator(x), b.removeOperator(y)]);
        assert.deepEqual([ra.kind, rb.kind].sort(), ['last_admin', 'removed'], `round ${round}`);
        const admins = (await a.listOperators()).filter((o) => o.role === 'admin').map((o) => o.name);
        assert.equal(admins.length, 1, `round ${round}: one admin left`);
        survivor = admins[0];
      }
    });

    const oneProcess = backend.capabilities.supportsReplicas ? false : 'one process per SQLite database: its event feed is in process, and it always sweeps';

    test('a write on one replica is heard by the other replica\'s subscribers, after it committed', { skip: oneProcess }, async (t) => {
      const [a, b] = await twoReplicas(backend, t);
      const heard: StoreEvent[] = [];
      let seenQueued: string[] = [];
      t.after(b.subscribe((e) => {
        heard.push(e);
        // what an event names is readable when it arrives
        if (e.kind === 'command' && e.status === 'queued') void b.getCommands([e.id]).then((l) => (seenQueued = [...seenQueued, ...l.map((c) => c.id)]));
      }));
      const ids = await createRun(a, 'r', 20);
      await a.claimForPush(ids[0]!, NOW, LEASE);
      for (let i = 0; i < 400 && (heard.length < 21 || seenQueued.length < 20); i++) await sleep(25);
      assert.deepEqual(heard.filter((e) => e.kind === 'command').map((e) => e.kind === 'command' && `${e.id}:${e.status}`).sort(),
        [...ids.map((id) => `${id}:queued`), `${ids[0]}:dispatched`].sort());
      assert.deepEqual(seenQueued.sort(), [...ids].sort());
    });

    test('one replica sweeps at a time; when it closes (or dies), another takes over', { skip: oneProcess }, async (t) => {
      const db = await backend.fresh(t);
      const stores = await Promise.all([0, 1, 2].map(() => backend.openParallel(t, db)));
      const holds = async () => Promise.all(stores.map((s) => s.holdSweeperLock()));
      const first = await holds();
      assert.equal(first.filter(Boolean).length, 1, 'exactly one');
      assert.deepEqual(await holds(), first, 'and it keeps it');
      const sweeper = first.indexOf(true);
      await stores[sweeper]!.close();
      stores.splice(sweeper, 1);
      let next: boolean[] = [];
      for (let i = 0; i < 400 && next.filter(Boolean).length !== 1; i++) next = await holds();
      assert.equal(next.filter(Boolean).length, 1, 'another one took over');
    });

    test('webhook deliveries: each is claimed by one replica at a time, whoever asks; each event enqueued once while both end commands', async (t) => {
      const [a, b] = await twoReplicas(backend, t);
      await a.addWebhook({ id: 'wh', url: 'http://127.0.0.1:9/', events: ['command.finished', 'run.finished'], secret: 'whsec_0123456789abcdef', fingerprint: null, created_by: null }, NOW, 10);
      const ids = await createRun(a, 'r', 120);
      await a.claimForAgent('a1', NOW, LEASE, 1000);
      // both replicas record every result: each command ends once, so its event is enqueued once
      await fromBoth<ResultOutcome>([a, b], 'recordResult', (who) => ids.map((id) => [id, 'a1', result(`from ${who}`), NOW]));
      const got: string[] = [];
      await race([a, b], 3, async (s) => {
        const claimed = await callEach<ClaimedDelivery[]>(s, 'claimDeliveries', [[AFTER_LEASE, AFTER_EXPIRY, 4]]);
        got.push(...claimed[0]!.map((d) => d.subject_id));
        return claimed[0]!.length > 0;
      });
      assertEachOnce(got, [...ids, 'r'], 'deliveries claimed');
      const listed = await b.listDeliveries('wh', 1000);
      assert.equal(listed.length, ids.length + 1);
      assert.ok(listed.every((d) => d.state === 'sending' && d.attempts === 1));
    });

    test('a webhook removed while both replicas end commands and create runs: every write goes through, and nothing is left for it', async (t) => {
      const [a, b] = await twoReplicas(backend, t);
      const hooks = Array.from({ length: 10 }, (_, i) => `wh${i}`);
      for (const id of hooks) await a.addWebhook({ id, url: 'http://127.0.0.1:9/', events: ['command.finished', 'run.finished'], secret: 'whsec_0123456789abcdef', fingerprint: null, created_by: null }, NOW, 100);
      const ids = await createRun(a, 'r', 100);
      await a.claimForAgent('a1', NOW, LEASE, 1000);
      const newRun = (i: number) => [{ id: `r2-${i}`, command: 'echo', args: [], target: 'test', max_concurrency: null, max_errors: null, requested_by: null },
        [{ id: `r2-${i}-c`, status: 'queued', agent_id: 'a1', command: 'echo', args: [], timeout: 5, env: null, cwd: null, expires_at: EXPIRES }], NOW];
      const [results, removed, created] = await Promise.all([
        fromBoth<ResultOutcome>([a], 'recordResult', () => ids.map((id) => [id, 'a1', result('x'), NOW])),
        fromBoth<{ undelivered: number } | undefined>([b], 'removeWebhook', () => hooks.map((id) => [id])),
        fromBoth<unknown>([a], 'createRun', () => Array.from({ length: 20 }, (_, i) => newRun(i))),
      ]);
      assert.ok(results[0]!.every((r) => r.kind === 'recorded'));
      assert.equal(created[0]!.length, 20);
      assert.ok(removed[0]!.every((r) => r !== undefined));
      assert.deepEqual(await a.listWebhooks(), []);
      assert.deepEqual(await a.claimDeliveries(AFTER_EXPIRY, AFTER_EXPIRY, 1000), [], 'no delivery outlives its webhook');
    });

    test('replicas starting together on a new database all start, and migrate it once', async (t) => {
      const db = await backend.fresh(t, { empty: true });
      const stores = await Promise.all(Array.from({ length: 4 }, () => backend.openParallel(t, db)));
      await token(stores[0]!, 'e');
      assert.equal((await stores[3]!.enrollAgent('e', agent('a1'), NOW)).ok, true);
    });
  });
}
