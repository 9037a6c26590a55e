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
  /** Requests the web service answered, by `route code-class` (route as registered, or `unmatched`). */
  readonly requests = new Map<string, number>();

  finishedOne(status: CommandStatus): void {
    this.finished.set(status, (this.finished.get(status) ?? 0) + 1);
  }

  /** Counts every answer of the agent's web service by route and status class (2xx, 4xx, ...). */
  countRequests(app: FastifyInstance): void {
    app.addHook('onResponse', async (req, reply) => {
      const key = `${req.is404 ? 'unmatched' : req.routeOptions.url ?? 'unmatched'} ${Math.floor(reply.statusCode / 100)}xx`;
      this.requests.set(key, (this.requests.get(key) ?? 0) + 1);
    });
  }
}
