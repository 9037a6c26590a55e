// What the agent counts for its metrics, as plain numbers bumped where things happen (the command
// runner, the web service). Always kept, whether or not metrics are served: prom-client is loaded
// only with `metrics_listen` (agent-metrics.ts reads these when scraped).

import type { FastifyInstance } from 'fastify';
import type { CommandStatus } from '../protocol/command-status.ts';

export class AgentCounters {
  /** Commands journaled and started (a repeated delivery of one is not counted again). */
  accepted = 0;
  /** Results journaled (or held), by status. */
  readonly finished = new Map<CommandStatus, number>();
  /** Requests the web service answered: by route as registered (or `unmatched`), counts by status class (index 2: 2xx, ...). */
  readonly requests = new Map<string, number[]>();

  finishedOne(status: CommandStatus): void {
    this.finished.set(status, (this.finished.get(status) ?? 0) + 1);
  }

  /** Counts every answer of the agent's web service by route and status class; nothing is allocated per request. */
  countRequests(app: FastifyInstance): void {
    app.addHook('onResponse', (req, reply, done) => {
      const route = req.is404 ? 'unmatched' : req.routeOptions.url ?? 'unmatched';
      let counts = this.requests.get(route);
      if (!counts) this.requests.set(route, (counts = [0, 0, 0, 0, 0, 0]));
      counts[Math.min(5, Math.floor(reply.statusCode / 100))]!++;
      done();
    });
  }
}
