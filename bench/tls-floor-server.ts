// A bare node:https server (no framework, no store) answering `{}`: what holding idle TLS
// connections costs the runtime itself. Prints its port, then serves until killed.
//
//   node bench/tls-floor-server.ts CERT KEY

import { readFileSync } from 'node:fs';
import { createServer } from 'node:https';

const srv = createServer({ cert: readFileSync(process.argv[2]!), key: readFileSync(process.argv[3]!), keepAliveTimeout: 600_000 }, (req, res) => {
  req.resume();
  req.on('end', () => res.end('{}'));
});
srv.listen(0, '127.0.0.1', () => console.log(JSON.stringify({ port: (srv.address() as { port: number }).port })));
