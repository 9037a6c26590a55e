// The floor under the control plane's memory per held agent: a bare node:https server
// (bench/tls-floor-server.ts) holding N kept-alive TLS connections, each after one request, as a
// held agent's connection is. Its RSS over N is what Node's TLS costs per connection before any of
// myx's own code runs.

import { once } from 'node:events';
import { connect, type TLSSocket } from 'node:tls';
import { join } from 'node:path';
import { procUsage, spawnNode } from './lib.ts';

const SERVER = join(import.meta.dirname, 'tls-floor-server.ts');

/** RSS (KiB) of a bare TLS server idle, and holding `n` connections. */
export async function tlsFloor(certPath: string, keyPath: string, n: number): Promise<{ idleKiB: number; heldKiB: number }> {
  const child = spawnNode(SERVER, [certPath, keyPath]);
  const sockets: TLSSocket[] = [];
  try {
    const [line] = (await once(child.stdout!, 'data')) as [Buffer];
    const port = (JSON.parse(line.toString()) as { port: number }).port;
    await new Promise((r) => setTimeout(r, 500));
    const idleKiB = procUsage(child.pid!).rssKiB;
    for (let i = 0; i < n; i += 100) {
      await Promise.all(Array.from({ length: Math.min(100, n - i) }, () => new Promise<void>((resolve, reject) => {
        const s = connect({ host: '127.0.0.1', port, rejectUnauthorized: false }, () => {
          s.write('GET / HTTP/1.1\r\nHost: floor\r\n\r\n');
          s.once('data', () => resolve());
        });
        s.once('error', reject);
        sockets.push(s);
      })));
    }
    await new Promise((r) => setTimeout(r, 1000));
    return { idleKiB, heldKiB: procUsage(child.pid!).rssKiB };
  } finally {
    for (const s of sockets) s.destroy();
    child.kill();
  }
}
