// The metrics' own listen address (`--metrics-listen`, `metrics_listen`), on the control plane and
// the agent alike: plain HTTP, GET /metrics and nothing else, for a Prometheus (or its agent) on
// the same host. Loopback only: plain HTTP without credentials is what a local scraper needs and
// must not reach the network; a scraper elsewhere reads the control plane's HTTPS API instead
// (GET /metrics with a viewer's token).

import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { createHttpApp } from './http-app.ts';
import type { Logger } from './logger.ts';
import type { MetricsText } from './metrics.ts';
import { MetricsListenError, type LoopbackAddress } from './loopback-address.ts';
import { routeFor } from './route-auth.ts';

export interface MetricsListener {
  /** `http://HOST:PORT/metrics`, with the port bound. */
  url: string;
  close(): Promise<void>;
}

/** Listens on `at` and answers GET /metrics with `render()`; every other request gets the usual 404. */
export async function startMetricsListener(at: LoopbackAddress, render: () => Promise<MetricsText>, log: Logger): Promise<MetricsListener> {
  const app: FastifyInstance = createHttpApp({ logger: log, callers: { local: null } });
  app.get('/metrics', routeFor('local'), async (_req, reply) => {
    const { contentType, text } = await render();
    return reply.type(contentType).send(text);
  });
  try {
    await app.listen({ host: at.host, port: at.port });
  } catch (err) {
    await app.close();
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE') throw new MetricsListenError(`metrics listen address ${at.host}:${at.port} is already in use: pick another port`);
    throw err;
  }
  const port = (app.server.address() as AddressInfo).port;
  const url = `http://${at.host.includes(':') ? `[${at.host}]` : at.host}:${port}/metrics`;
  log.info({ metrics_url: url }, `metrics on ${url}`);
  return { url, close: () => app.close() };
}
