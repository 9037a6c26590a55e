// Debian's Chromium, driven by playwright-core, for the web console's tests: headless, a fresh
// profile, nothing fetched from the network by the browser itself (no downloads of its own), and
// the control plane's self-signed certificate trusted by its public key alone (pinned), not by
// turning certificate checks off.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

/** A browser with a fresh profile that trusts exactly the certificate whose SPKI SHA-256 (base64) is `spkiSha256`. */
export async function launchBrowser(spkiSha256: string): Promise<{ context: BrowserContext; close: () => Promise<void> }> {
  const profile = mkdtempSync(join(tmpdir(), 'myx-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run',
      `--ignore-certificate-errors-spki-list=${spkiSha256}`,
    ],
    viewport: { width: 1400, height: 900 },
    acceptDownloads: true,
  });
  return {
    context,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
