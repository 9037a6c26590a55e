// Upgrades from the control plane (`myx agents upgrade`): the defaults both the CLI and the control
// plane use, and how an upgrade command is named in records.

/**
 * The `command` of an upgrade command, as `myx show` and `myx commands` list it (args: the version).
 * Not a program: an agent that did not know upgrades would fail it ("executable not found").
 */
export const UPGRADE_COMMAND = 'myx-agent upgrade';

export const UPGRADE_DEFAULTS = {
  /** A tenth of the targets at a time (at least one), like a canary that grows. */
  maxConcurrency: '10%',
  /** The first failure stops the rollout (the rest end `skipped`), like Teleport's halt-on-error. */
  maxErrors: '1',
  /** An agent that is offline this long ends `expired` (an error: the rollout stops there too). */
  ttlSeconds: 600,
} as const;
