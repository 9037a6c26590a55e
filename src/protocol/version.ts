// The version every part reports (agent heartbeats, status, logs). Kept in step with package.json
// by a test, because protocol code may not read files. `npm run package` stamps its own version into
// the binaries by defining MYX_BUILD_VERSION at bundle time (MYX_VERSION=X, for tests of upgrades).

declare const MYX_BUILD_VERSION: string | undefined;

export const MYX_VERSION: string = typeof MYX_BUILD_VERSION === 'string' ? MYX_BUILD_VERSION : '0.1.0';
