// Fetches the release's agent binary from the control plane (over the agent's pinned channel) into
// a file, checked against the size and SHA-256 that the upgrade command carries: a file that is not
// exactly the release the operator rolled out is deleted, never run.

import { createHash } from 'node:crypto';
import { open, rm } from 'node:fs/promises';
import type { UpgradeSpec } from '../protocol/wire.ts';
import type { ControlClient } from './control-client.ts';

export class DownloadError extends Error {}

export async function downloadRelease(client: ControlClient, spec: UpgradeSpec, dest: string, signal: AbortSignal): Promise<void> {
  const fh = await open(dest, 'wx', 0o700);
  let ok = false;
  try {
    const res = await client.openDownload('/downloads/myx-agent');
    const hash = createHash('sha256');
    let size = 0;
    try {
      for await (const chunk of res) {
        if (signal.aborted) throw new DownloadError('cancelled');
        const buf = chunk as Buffer;
        size += buf.length;
        if (size > spec.size) throw new DownloadError(`the download is larger than the ${spec.size} bytes the upgrade command says (the release changed since the upgrade started?)`);
        hash.update(buf);
        await fh.write(buf);
      }
    } finally {
      res.destroy();
    }
    if (size !== spec.size) throw new DownloadError(`the download has ${size} bytes, the upgrade command says ${spec.size} (cut short, or the release changed since the upgrade started)`);
    const sha256 = hash.digest('hex');
    if (sha256 !== spec.sha256) throw new DownloadError(`the download's SHA-256 is ${sha256}, the upgrade command says ${spec.sha256}: not installed (the release changed since the upgrade started, or something altered it on the way)`);
    await fh.sync();
    ok = true;
  } finally {
    await fh.close();
    if (!ok) await rm(dest, { force: true });
  }
}
