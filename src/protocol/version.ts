// The version every part reports (agent heartbeats, status, logs). Kept in step with package.json
// by a test, because protocol code may not read files.
export const MYX_VERSION = '0.1.0';
