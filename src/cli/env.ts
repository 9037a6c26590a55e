// Every environment variable myx reads, in one place.

const logFormat = process.env.MYX_LOG_FORMAT;

export const env = {
  dataDir: process.env.MYX_DATA_DIR,
  /** The control plane's PostgreSQL URL (kept out of process arguments, where other users can read it). */
  databaseUrl: process.env.MYX_DATABASE_URL,
  /** `myx server --metrics-listen` (an installed service reads it from /etc/myx/server.env). */
  metricsListen: process.env.MYX_METRICS_LISTEN || undefined,
  server: process.env.MYX_SERVER,
  token: process.env.MYX_TOKEN,
  serverFingerprint: process.env.MYX_SERVER_FINGERPRINT,
  /** `myx webhooks add`: the secret to sign with, instead of --secret (kept out of process arguments). */
  webhookSecret: process.env.MYX_WEBHOOK_SECRET,
  agentConfig: process.env.MYX_AGENT_CONFIG,
  logLevel: process.env.MYX_LOG_LEVEL,
  /** 'json' or 'pretty'; default pretty on a terminal, JSON otherwise */
  logFormat: (logFormat === 'json' || logFormat === 'pretty' ? logFormat : undefined) as 'json' | 'pretty' | undefined,
};
