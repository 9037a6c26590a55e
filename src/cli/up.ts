// `myx up` (what `npm start` runs): a control plane with its SQLite store and one local agent in
// web mode, both under ./.myx/, on loopback only; prints the URLs and commands to try.

import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
import { writeFileAtomic } from '../common/files.ts';
import { enroll } from '../agent/enroll.ts';
import { startAgentFromConfig } from '../agent/daemon.ts';
import { createLogger } from '../common/logger.ts';
import { startServer } from '../server/server.ts';
import { env } from './env.ts';
import { parsePort } from './fail.ts';
import { OperatorClient, resolveConnection } from './operator-client.ts';

export interface UpOptions {
  dir: string;
  port: string;
  agentPort: string;
}

export async function up(o: UpOptions): Promise<{ close: () => Promise<void>; banner: string }> {
  const base = resolve(o.dir);
  const dataDir = join(base, 'server');
  const agentConfig = join(base, 'agent', 'config.json');
  const port = parsePort(o.port, '--port');
  const agentPort = parsePort(o.agentPort, '--agent-port');
  const level = env.logLevel ?? 'info';
  const fmt = env.logFormat ? { format: env.logFormat } : {};

  const server = await startServer({ dataDir, listen: `127.0.0.1:${port}`, logLevel: level }, createLogger({ name: 'server', level, ...fmt }));
  try {
    if (existsSync(agentConfig)) {
      await followServer(agentConfig, server.url);
    } else {
      const client = new OperatorClient(await resolveConnection({ dataDir }));
      const token = await client.createEnrollmentToken(300);
      await client.close();
      await enroll({ server: server.url, token: token.token, configPath: agentConfig, name: 'local', webPort: agentPort, bind: '127.0.0.1' });
    }
    const agent = await startAgentFromConfig(agentConfig, { webPort: agentPort }, {}, createLogger({ name: 'agent', level, ...fmt }));
    const rel = relative(process.cwd(), dataDir) || '.';
    const dd = rel.includes(' ') ? `"${rel}"` : rel;
    const banner = `
myx is up.
  control plane  ${server.url}   data: ${rel}  fingerprint ${server.fingerprint}
  local agent    https://127.0.0.1:${agent.webPort}   config: ${relative(process.cwd(), agentConfig)}  (web mode)
  web console    ${server.url}/   sign in with the token in ${relative(process.cwd(), server.operatorTokenPath)}

Try from another terminal in this folder:
  npx myx agents --data-dir ${dd}
  npx myx run --data-dir ${dd} --all -- uname -a

Enroll another agent:  npx myx token create --data-dir ${dd}
Ctrl-C stops both.

`;
    return {
      banner,
      async close() {
        await agent.close();
        await server.close();
      },
    };
  } catch (err) {
    await server.close();
    throw err;
  }
}

/** The playground's server may have moved to another port since the agent enrolled: follow it. */
async function followServer(configPath: string, url: string): Promise<void> {
  const config = JSON.parse(await readFile(configPath, 'utf8')) as { server_url?: string };
  if (config.server_url === url) return;
  await writeFileAtomic(configPath, JSON.stringify({ ...config, server_url: url }, null, 2) + '\n', 0o600);
}
