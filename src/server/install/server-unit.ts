// The systemd unit of the control plane (`myx server install` writes it): a dedicated user,
// its data in /var/lib/myx (StateDirectory), and systemd's sandbox around a process that only
// serves HTTPS and writes its own state. Each directive below was checked against what Node needs.

export const SERVER_UNIT_NAME = 'myx-server.service';
export const SERVER_USER = 'myx';
/** Where the control plane keeps its database, certificate and operator token (StateDirectory=myx). */
export const SERVER_DATA_DIR = '/var/lib/myx';
/**
 * The unit's environment file (root's, 0600): MYX_DATABASE_URL for a control plane on PostgreSQL,
 * kept out of the unit and the command line, which every user of the host may read.
 */
export const SERVER_ENV_FILE = '/etc/myx/server.env';

export interface ServerUnitOptions {
  /** The folder holding the release: myx, myx-agent, SHA256SUMS. @default /usr/local/lib/myx */
  libDir: string;
  /** HOST:PORT to listen on. */
  listen: string;
  /** The port in `listen`: below 1024 the unit grants CAP_NET_BIND_SERVICE, and nothing else. */
  port: number;
  /** --public-url, when given. */
  publicUrl?: string;
  /** The environment file's path (SERVER_ENV_FILE, under a prefix in tests); read when it exists. */
  envFile: string;
}

/** Characters that may go into the unit as they are: no quoting, no `%` specifiers, no spaces. */
const PLAIN = /^[A-Za-z0-9/._:[\]-]+$/;

export function serverUnit(o: ServerUnitOptions): string {
  for (const v of [o.libDir, o.listen, o.publicUrl ?? '', o.envFile]) {
    if (v !== '' && !PLAIN.test(v)) throw new Error(`"${v}" cannot go into a systemd unit as it is (letters, digits and / . _ : [ ] - only)`);
  }
  const args = ['server', '--data-dir', SERVER_DATA_DIR, '--listen', o.listen, '--release-dir', o.libDir, ...(o.publicUrl ? ['--public-url', o.publicUrl] : [])];
  const caps = o.port > 0 && o.port < 1024
    ? `# It listens on port ${o.port}, below 1024: that one capability, nothing else.
CapabilityBoundingSet=CAP_NET_BIND_SERVICE
AmbientCapabilities=CAP_NET_BIND_SERVICE`
    : `# No capabilities at all (it listens on port ${o.port}, above 1023).
CapabilityBoundingSet=`;
  return `# myx control plane. Written by \`myx server install\`; running it again rewrites it.
[Unit]
Description=myx control plane
Wants=network-online.target
After=network-online.target

[Service]
Type=exec
User=${SERVER_USER}
Group=${SERVER_USER}
# MYX_DATABASE_URL (PostgreSQL, replicas) when the file exists; read by systemd, as root.
EnvironmentFile=-${o.envFile}
ExecStart=${o.libDir}/myx ${args.join(' ')}
Restart=always
RestartSec=2
TimeoutStopSec=30
# /var/lib/myx, created and owned by the myx user; the only place it may write.
StateDirectory=myx
StateDirectoryMode=0700
UMask=0077

# Sandbox. Not MemoryDenyWriteExecute: V8's JIT needs writable, executable memory.
NoNewPrivileges=yes
ProtectSystem=strict
ProtectHome=yes
PrivateTmp=yes
PrivateDevices=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
ProtectProc=invisible
# AF_NETLINK: Node lists the host's addresses (getifaddrs) for its self-signed certificate.
RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX AF_NETLINK
RestrictNamespaces=yes
RestrictRealtime=yes
RestrictSUIDSGID=yes
LockPersonality=yes
RemoveIPC=yes
SystemCallArchitectures=native
# @system-service keeps setrlimit (Node raises its open-file limit at start: every polling agent
# holds connections); a call outside it fails with EPERM instead of killing the process.
SystemCallFilter=@system-service
SystemCallErrorNumber=EPERM
${caps}

[Install]
WantedBy=multi-user.target
`;
}
