// `--metrics-listen HOST:PORT` (control plane and agent): parsed and held to loopback addresses,
// with no import beyond this file, so reading a config pulls in no HTTP server.

export class MetricsListenError extends Error {
  readonly code = 'INVALID_OPTION';
}

export interface LoopbackAddress {
  host: string;
  port: number;
}

/** `HOST:PORT` (IPv6 in brackets) on a loopback address: 127.0.0.0/8, ::1 or localhost. */
export function parseMetricsListen(value: string, what: string): LoopbackAddress {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\s[\]]+)):(\d{1,5})$/.exec(value.trim());
  const port = m ? Number(m[3]) : NaN;
  if (!m || !(port >= 0 && port <= 65535)) throw new MetricsListenError(`${what} must be HOST:PORT on a loopback address (for example 127.0.0.1:9464), got "${value}"`);
  const host = m[1] ?? m[2]!;
  if (!isLoopback(host)) {
    throw new MetricsListenError(`${what} must be a loopback address (127.0.0.1, ::1 or localhost), got "${host}": it is plain HTTP without credentials; `
      + 'to scrape from another host, read the control plane\'s https://HOST:PORT/metrics with a viewer\'s token (docs/metrics.md)');
  }
  return { host: host === 'localhost' ? '127.0.0.1' : host, port };
}

function isLoopback(host: string): boolean {
  if (host === 'localhost' || host === '::1' || /^0*:(0*:)*0*:0*1$/.test(host)) return true;
  const parts = host.split('.');
  return parts.length === 4 && parts[0] === '127' && parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255);
}
