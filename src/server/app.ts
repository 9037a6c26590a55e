// The control plane's HTTP app: routes and error handling, no listening (see server.ts).

import type { FastifyInstance } from 'fastify';
import { createHttpApp } from '../common/http-app.ts';
import type { LoadedCertificate } from '../common/tls-cert.ts';
import { agentRoutes } from './agent-routes.ts';
import { auditAuthFailures, auditRequests } from './audit.ts';
import { auditRoutes } from './audit-routes.ts';
import { PUBLIC_ROUTE, serverCallers } from './auth.ts';
import type { ServerContext } from './context.ts';
import { enrollmentTokenRoutes } from './enrollment-token-routes.ts';
import { operatorRoutes } from './operator-routes.ts';
import { operatorsRoutes } from './operators-routes.ts';
import { commandStreamRoute } from './command-stream.ts';
import { downloadRoutes } from './download-routes.ts';
import { replicaRoutes } from './replica-routes.ts';
import { installRoutes } from './install-routes.ts';
import { upgradeRoutes } from './upgrade-routes.ts';
import { consoleRoutes, securityHeaders } from './console-routes.ts';
import { metricsRoute } from './metrics-route.ts';
import { outputRoutes } from './output-routes.ts';
import { sessionRoutes } from './session-routes.ts';
import { webhookRoutes } from './webhook-routes.ts';

export function buildServerApp(ctx: ServerContext, tls?: LoadedCertificate): FastifyInstance {
  const app = createHttpApp({ logger: ctx.log, callers: serverCallers(ctx.store), onAuthFailures: auditAuthFailures(ctx), ...(tls ? { tls } : {}) });
  securityHeaders(app);
  auditRequests(app, ctx);
  app.get('/health', PUBLIC_ROUTE, async () => ({ status: 'ok' }));
  agentRoutes(app, ctx);
  operatorRoutes(app, ctx);
  enrollmentTokenRoutes(app, ctx);
  commandStreamRoute(app, ctx);
  downloadRoutes(app, ctx);
  replicaRoutes(app, ctx);
  installRoutes(app, ctx);
  upgradeRoutes(app, ctx);
  sessionRoutes(app, ctx);
  outputRoutes(app, ctx);
  operatorsRoutes(app, ctx);
  auditRoutes(app, ctx);
  webhookRoutes(app, ctx);
  metricsRoute(app, ctx);
  consoleRoutes(app, ctx);
  return app;
}
