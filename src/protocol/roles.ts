// Operators' roles and scopes, the same for the control plane, the CLI and the console: which role
// may do what (viewer < operator < admin) and which agents a scope (a label selector) takes in.

import type { Labels } from './wire.ts';

/** viewer: reads agents, runs, commands, output; operator: also runs and cancels commands; admin: everything. */
export const OPERATOR_ROLES = ['viewer', 'operator', 'admin'] as const;
export type OperatorRole = (typeof OPERATOR_ROLES)[number];

/** Names of operators: what a person or a service account is called; never a secret. */
export const OPERATOR_NAME_PATTERN = '^[A-Za-z0-9][A-Za-z0-9_.@-]{0,62}$';

export function isRole(value: unknown): value is OperatorRole {
  return typeof value === 'string' && (OPERATOR_ROLES as readonly string[]).includes(value);
}

/** Whether a caller with role `have` may use what needs `need`. */
export function roleAllows(have: OperatorRole, need: OperatorRole): boolean {
  return OPERATOR_ROLES.indexOf(have) >= OPERATOR_ROLES.indexOf(need);
}

/** Whether labels (an agent's effective labels) are within a scope: every k=v of the scope is among them. An empty scope takes in everything. */
export function inScope(scope: Labels, labels: Labels): boolean {
  return Object.entries(scope).every(([k, v]) => labels[k] === v);
}

/** `env=staging,role=web`, or `everything` for an unscoped operator. */
export function scopeText(scope: Labels): string {
  const parts = Object.entries(scope).map(([k, v]) => `${k}=${v}`);
  return parts.length === 0 ? 'everything' : parts.join(',');
}
