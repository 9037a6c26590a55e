// Where the release this program belongs to lives: the folder of the running binary for a
// packaged `myx`, or `release/` of the checkout for `node bin/myx.js` (what `npm run package` writes).

import { realpathSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { isSea } from 'node:sea';

export function defaultReleaseDir(): string {
  if (isSea()) return dirname(process.execPath);
  const script = process.argv[1];
  // bin/myx.js -> the checkout -> release/
  return script ? join(dirname(dirname(realpathSync(script))), 'release') : join(process.cwd(), 'release');
}
