// GET /install.sh: install.sh with this control plane's URL, the pin of its public key and the
// agent's systemd unit filled in. Each value goes in as one shell word, whatever it holds.

import { shellQuote } from '../../protocol/install-line.ts';
import { AGENT_UNIT_TEMPLATE } from './agent-unit.ts';
import { INSTALL_SH_TEMPLATE } from './install-sh.asset.ts';

export interface InstallScriptInput {
  serverUrl: string;
  /** `sha256//…` */
  pinnedPubkey: string;
  version: string;
}

export function installScript(i: InstallScriptInput): string {
  const values: Record<string, string> = {
    "'@MYX_SERVER_URL@'": shellQuote(i.serverUrl.replace(/\/$/, '')),
    "'@MYX_PINNED_PUBKEY@'": shellQuote(i.pinnedPubkey),
    '@MYX_VERSION@': i.version.replace(/[^0-9A-Za-z.+-]/g, '?'),
    // inside a quoted here-document, ended by its own line UNIT
    '@MYX_AGENT_UNIT@\n': AGENT_UNIT_TEMPLATE,
  };
  let script = INSTALL_SH_TEMPLATE;
  for (const [placeholder, value] of Object.entries(values)) {
    if (!script.includes(placeholder)) throw new Error(`install.sh lacks the placeholder ${placeholder}`);
    script = script.replaceAll(placeholder, () => value);
  }
  return script;
}
