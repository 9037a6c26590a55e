// `myx agents upgrade`: a run of upgrade commands, one per target, paced like any run. Each agent
// fetches the release's binary from this control plane, checks it against what the command says,
// and replaces itself (src/agent/upgrader.ts). Agents already on the release's version succeed at once.

import type { FastifyInstance } from 'fastify';
import { displayText } from '../protocol/display-text.ts';
import { ApiError } from '../protocol/errors.ts';
import { upgradeAgentsSchema } from '../protocol/schemas.ts';
import { compareVersions } from '../protocol/semver.ts';
import { UPGRADE_COMMAND, UPGRADE_DEFAULTS } from '../protocol/upgrade.ts';
import type { UpgradeAgentsRequest, UpgradeAgentsResponse, UpgradeSpec } from '../protocol/wire.ts';
import { auditEntry } from './audit.ts';
import { callingOperator, operatorRoute } from './auth.ts';
import type { ServerContext } from './context.ts';
import { launchRun } from './run-launch.ts';
import { selectTargets } from './targets.ts';

/** Informational (the agent bounds each step itself): waiting for its commands, then coming back. */
const UPGRADE_TIMEOUT_SECONDS = 3600;

export function upgradeRoutes(app: FastifyInstance, ctx: ServerContext): void {
  app.post<{ Body: UpgradeAgentsRequest }>('/api/agents/upgrade', { ...operatorRoute('admin', 'agents.upgrade'), schema: { body: upgradeAgentsSchema } }, async (req, reply) => {
    const b = req.body;
    const audit = auditEntry(req, { targets: [], details: { targets: b.targets, allow_downgrade: b.allow_downgrade ?? false } });
    const release = await ctx.release.agent();
    if (release.version === null) {
      throw new ApiError('RELEASE_UNUSABLE', `${release.path} does not run on the control plane's host (\`myx-agent --version\` failed or printed no version), so no agent gets it: rebuild the release with \`npm run package\``);
    }
    const version = release.version;
    audit.details = { ...audit.details, version };
    const { agents, description } = selectTargets(await ctx.store.listAgents(), b.targets); // admins see every agent
    if (!b.allow_downgrade) {
      const newer = agents.filter((a) => compareVersions(a.version, version) === 1);
      if (newer.length > 0) {
        const some = newer.slice(0, 5).map((a) => `${a.name} (${a.version})`).join(', ') + (newer.length > 5 ? ` and ${newer.length - 5} more` : '');
        throw new ApiError('UPGRADE_WOULD_DOWNGRADE', displayText(
          `${newer.length} of the targets run a newer version than the release (${version}): ${some}; pass --allow-downgrade to install ${version} on them anyway`,
        ));
      }
    }
    const spec: UpgradeSpec = { version, sha256: release.sha256, size: release.size };
    const run = await launchRun(ctx, agents, {
      command: UPGRADE_COMMAND, args: [version], timeout: UPGRADE_TIMEOUT_SECONDS, env: null, cwd: null,
      ttl: b.ttl ?? UPGRADE_DEFAULTS.ttlSeconds, target: description,
      maxConcurrency: b.max_concurrency ?? UPGRADE_DEFAULTS.maxConcurrency, maxErrors: b.max_errors ?? UPGRADE_DEFAULTS.maxErrors,
      requestedBy: callingOperator(req).name,
    }, (a) => (a.version === version ? { status: 'succeeded', stdout: `already on ${version}\n` } : { upgrade: spec }), audit);
    ctx.log.info({ run_id: run.run.id, version, sha256: spec.sha256, targets: agents.length }, `upgrade to ${version} started`);
    const body: UpgradeAgentsResponse = { ...run, release: spec };
    return reply.code(201).send(body);
  });
}
