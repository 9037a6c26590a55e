// The systemd unit of the agent, in one place: the installer (install.sh, filled in by the control
// plane) writes it with its paths, and the tests compare what it wrote with agentUnit().

export interface AgentUnitPaths {
  /** The agent binary. @default /usr/local/bin/myx-agent */
  bin: string;
  /** Its config file. @default /etc/myx-agent/config.json */
  config: string;
}

export const AGENT_UNIT_NAME = 'myx-agent.service';

/** Placeholders install.sh replaces (with sed) by the paths it installed to. */
export const AGENT_UNIT_PLACEHOLDERS = { bin: '@BIN@', config: '@CONFIG@' } as const;

export const AGENT_UNIT_TEMPLATE = `# myx agent: runs the commands the myx control plane sends to this host.
# Written by the myx installer (GET /install.sh of the control plane); running it again rewrites it.
[Unit]
Description=myx agent
Wants=network-online.target
After=network-online.target
# Never give up restarting: an agent that exits to upgrade, or crashes, must come back.
StartLimitIntervalSec=0

[Service]
Type=exec
# As root, on purpose: operators send commands that manage the host (packages, services, files).
ExecStart=@BIN@ --config @CONFIG@
Restart=always
RestartSec=2
# mixed: SIGTERM reaches the agent alone, which stops its running commands itself (TERM to each
# process group, KILL 5 s later) and journals them as cancelled; whatever is left in the unit's
# cgroup after TimeoutStopSec is killed, so no command outlives a stopped agent. (control-group
# would signal the commands at the same moment as the agent, which then reports them as killed by
# a signal instead of cancelled; process would leave them running, unsupervised.)
KillMode=mixed
TimeoutStopSec=30

[Install]
WantedBy=multi-user.target
`;

export function agentUnit(paths: AgentUnitPaths): string {
  return AGENT_UNIT_TEMPLATE.replaceAll(AGENT_UNIT_PLACEHOLDERS.bin, paths.bin).replaceAll(AGENT_UNIT_PLACEHOLDERS.config, paths.config);
}
