// The heartbeat interval follows the fleet's size: past --max-heartbeat-rate, agents are told a
// longer interval (so 10,000 agents do not send 2,000 heartbeats a second), and an agent counts as
// offline only after three of its own intervals, also just after the interval shrank again.

import assert from 'node:assert/strict';
import { hostname } from 'node:os';
import { after, describe, test } from 'node:test';
import { ControlClient } from '../src/agent/control-client.ts';
import { OperatorClient, resolveConnection } from '../src/cli/operator-client.ts';
import { parseEnrollmentToken } from '../src/protocol/enrollment-token.ts';
import { MYX_VERSION } from '../src/protocol/version.ts';
import { HeartbeatPacing } from '../src/server/heartbeat-pacing.ts';
import { startServer, tempDir, type TestServer } from './helpers.ts';

describe('heartbeat pacing', () => {
  test('the configured interval up to the rate, then agents / rate; offline after three intervals, never before the configured limit', () => {
    const p = new HeartbeatPacing({ baseSeconds: 5, offlineAfterSeconds: 15, maxPerSecond: 200 });
    const now = 1_000_000;
    p.fleetIs(1000, now);
    assert.equal(p.intervalSeconds, 5);
    assert.equal(p.offlineAfterMs(now), 15_000);
    p.fleetIs(10_000, now);
    assert.equal(p.intervalSeconds, 50);
    assert.equal(p.offlineAfterMs(now), 150_000);
    p.fleetIs(10_001, now);
    assert.equal(p.intervalSeconds, 50.1, 'rounded up to a tenth: the rate is a ceiling');
    p.fleetIs(3, now);
    assert.equal(p.intervalSeconds, 5);
    const fast = new HeartbeatPacing({ baseSeconds: 0.5, offlineAfterSeconds: 1.5, maxPerSecond: 200 });
    fast.fleetIs(3, now);
    assert.equal(fast.intervalSeconds, 0.5, 'a short configured interval stays on a small fleet');
  });

  test('when the interval shrinks, the longer offline limit holds until every agent has beaten on the new one', () => {
    const p = new HeartbeatPacing({ baseSeconds: 5, offlineAfterSeconds: 15, maxPerSecond: 100 });
    const now = 1_000_000;
    p.fleetIs(6000, now); // 60 s
    p.fleetIs(100, now + 1000); // back to 5 s: agents told 60 s may not beat for another 60 s
    assert.equal(p.intervalSeconds, 5);
    assert.equal(p.offlineAfterMs(now + 2000), 180_000);
    assert.equal(p.offlineAfterMs(now + 1000 + 60_001), 15_000);
  });

  describe('a control plane with a low rate', () => {
    const dir = tempDir();
    let server: TestServer | undefined;
    after(async () => server?.proc.kill());

    test('heartbeat answers carry the stretched interval, and agents stay online for three of them', async () => {
      const flags = ['--heartbeat-interval', '1', '--max-heartbeat-rate', '0.5'];
      server = await startServer(dir, flags);
      const client = new OperatorClient(await resolveConnection({ dataDir: server.dataDir }));
      const tokens: { token: string; fp: string }[] = [];
      try {
        for (const name of ['pace-1', 'pace-2', 'pace-3']) {
          const { token } = await client.createEnrollmentToken(600);
          const fp = parseEnrollmentToken(token)!.serverFingerprint;
          const reg = await ControlClient.register([server.url], fp, {
            enrollment_token: token, name, hostname: hostname(), os: 'linux', version: MYX_VERSION, mode: 'poll', web_port: null,
            fingerprint: null, advertise_address: null, labels: {},
          });
          tokens.push({ token: reg.agent_token, fp });
        }
      } finally {
        await client.close();
      }
      // the fleet is counted as the control plane starts (and every 15 s after)
      await server.proc.kill();
      server = await startServer(dir, flags);
      const url = server.url;
      const agents = tokens.map((t) => new ControlClient([url], t.fp, t.token)); // on the port it listens on now
      const facts = (name: string) => ({
        name, hostname: hostname(), os: 'linux', version: MYX_VERSION, mode: 'poll' as const, web_port: null, fingerprint: null,
        advertise_address: null, labels: {}, uptime_seconds: 1, running: 0,
      });
      const told = await agents[0]!.heartbeat(facts('pace-1'));
      assert.equal(told.heartbeat_interval_seconds, 6, '3 agents at 0.5 a second: every 6 s');
      await new Promise((r) => setTimeout(r, 3500)); // past three of the configured 1 s, within three of 6 s
      const op = new OperatorClient(await resolveConnection({ dataDir: server.dataDir }));
      try {
        const status = (await op.agents()).find((a) => a.name === 'pace-1')?.status;
        assert.equal(status, 'online');
      } finally {
        await op.close();
        await Promise.all(agents.map((a) => a.close()));
      }
    });
  });
});
