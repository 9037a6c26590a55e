// A fake agent that enrolls for real and then reports hostile text wherever an agent can put
// text: its facts (hostname, OS, version, labels), the errors of its web service (a push failure
// the control plane records and logs), and its results (error, signal, output). It runs no
// command: it answers what the test tells it to.

import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { ensureSelfSigned } from '../src/common/tls-cert.ts';
import type { CommandResult, HeartbeatResponse } from '../src/protocol/wire.ts';
import { send } from './raw-http.ts';

/** Terminal attacks: OSC 52 (writes the clipboard), screen clear, colour, CR, a forged line, bidi overrides and isolates, LS, C1 NEL and CSI, DEL. */
export const HOSTILE = 'ok\x1b]52;c;ZXZpbA==\x07\x1b[2J\x1b[31mred\x1b[0m\r\nFORGED-LINE evil: [succeeded]\u202eevil\u2066x\u2069\u2028\u0085\x9b31m\x7f end';
/** The same kinds, short enough for a signal name (32) or a version (64). */
export const HOSTILE_SHORT = '\x1b]52;c;eA==\x07\nFORGED-LINE\u202e';

/** Any character a terminal could take as an instruction; newlines and tabs aside. */
export const UNSAFE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]/;

export class HostileAgent {
  readonly name: string;
  readonly token: string;
  readonly #serverUrl: string;
  readonly #web: Server;
  readonly #facts: Record<string, unknown>;

  private constructor(name: string, token: string, serverUrl: string, web: Server, facts: Record<string, unknown>) {
    this.name = name;
    this.token = token;
    this.#serverUrl = serverUrl;
    this.#web = web;
    this.#facts = facts;
  }

  /** Enrolls as `name` in web mode; its web service refuses every push with a hostile error message. */
  static async start(serverUrl: string, enrollmentToken: string, dir: string, name: string): Promise<HostileAgent> {
    const cert = await ensureSelfSigned({ certPath: join(dir, `${name}.crt`), keyPath: join(dir, `${name}.key`) }, name);
    const web = createServer({ key: cert.keyPem, cert: cert.certPem }, (req, res) => {
      req.resume();
      res.writeHead(503, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { code: 'AGENT_BUSY', message: HOSTILE } }));
    });
    await new Promise<void>((resolve) => web.listen(0, '127.0.0.1', resolve));
    const facts = {
      name, hostname: HOSTILE, os: HOSTILE, version: HOSTILE_SHORT, mode: 'web', web_port: (web.address() as AddressInfo).port,
      fingerprint: cert.fingerprint, advertise_address: '127.0.0.1', labels: { note: HOSTILE },
    };
    const r = await send(`${serverUrl}/api/agents/register`, { json: { enrollment_token: enrollmentToken, ...facts } });
    if (r.status !== 201) throw new Error(`hostile agent could not enroll: ${r.text}`);
    return new HostileAgent(name, r.body.agent_token as string, serverUrl, web, facts);
  }

  /** One heartbeat; the answer carries the commands queued for it (its pushes fail, so all of them). */
  async heartbeat(): Promise<HeartbeatResponse> {
    const r = await send(`${this.#serverUrl}/api/agents/heartbeat`, {
      headers: { 'x-agent-token': this.token }, json: { ...this.#facts, uptime_seconds: 1, running: 0 },
    });
    if (r.status !== 200) throw new Error(`heartbeat refused: ${r.text}`);
    return r.body as HeartbeatResponse;
  }

  /** Reports a failed result full of hostile text (`output` in stdout, stderr as given). */
  async report(commandId: string, output: { stdout: string; stderr: string }): Promise<void> {
    const now = new Date().toISOString();
    const result: CommandResult = {
      status: 'failed', exit_code: 1, signal: HOSTILE_SHORT, error: HOSTILE, started_at: now, finished_at: now,
      stdout: output.stdout, stderr: output.stderr, stdout_bytes: output.stdout.length, stderr_bytes: output.stderr.length,
      stdout_truncated: false, stderr_truncated: false,
    };
    const r = await send(`${this.#serverUrl}/api/agents/commands/${commandId}/result`, { headers: { 'x-agent-token': this.token }, json: result });
    if (r.status !== 200) throw new Error(`result refused: ${r.text}`);
  }

  /** Heartbeats until the control plane hands out `commandId`. */
  async pickUp(commandId: string): Promise<void> {
    for (let i = 0; i < 200; i++) {
      const d = await this.heartbeat();
      if (d.commands.some((c) => c.command_id === commandId)) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`${commandId} was never handed to ${this.name}`);
  }

  async close(): Promise<void> {
    this.#web.closeAllConnections();
    await new Promise((resolve) => this.#web.close(resolve));
  }
}
