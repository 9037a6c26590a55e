// install.sh as it is in the repository, placeholders and all. In a bundle (dist/ or a single
// executable) the file's text is put here at build time by scripts/inline-assets.ts.

import { readFileSync } from 'node:fs';

export const INSTALL_SH_TEMPLATE: string = readFileSync(new URL('./install.sh', import.meta.url), 'utf8');
