// A fake poll-mode agent that enrolls for real and puts markup where an agent can put text: its
// hostname, OS, version and labels, and the output and error of every command it is handed.
// Each payload, if a page ran it, would call `__pwned(n)` (the browser test exposes that) or set
// window.__pwned. Colours and other terminal escapes come along, to be rendered or dropped.

import type { CommandResult, ExecuteRequest, PollResponse } from '../src/protocol/wire.ts';
import { send } from './raw-http.ts';

export const MARKUP = {
  script: '<script>window.__pwned=1;__pwned(1)</script>',
  img: '<img src=x onerror="window.__pwned=2;__pwned(2)">',
  link: 'javascript:window.__pwned=3;__pwned(3)',
  svg: '<svg onload="__pwned(4)"></svg>',
  anchor: '<a href="javascript:__pwned(5)">click</a>',
};

/** Output with every payload, a coloured word, a terminal title and a clipboard write (both to be dropped). */
export const HOSTILE_OUTPUT = `${MARKUP.script}\n${MARKUP.img}\n${MARKUP.link}\n${MARKUP.svg}\n${MARKUP.anchor}\n`
  + 'plain \x1b[31mRED-WORD\x1b[0m after\n\x1b]0;pwned-title\x07\x1b]52;c;ZXZpbA==\x07tail-line\n';

export class HtmlHostileAgent {
  readonly name: string;
  readonly #token: string;
  readonly #url: string;
  #stopped = false;
  #loop: Promise<void> = Promise.resolve();

  private constructor(name: string, token: string, url: string) {
    this.name = name;
    this.#token = token;
    this.#url = url;
  }

  static async start(url: string, enrollmentToken: string, name: string): Promise<HtmlHostileAgent> {
    const facts = {
      name, hostname: MARKUP.img, os: MARKUP.script, version: '<b>9</b>', mode: 'poll', web_port: null, fingerprint: null, advertise_address: null,
      labels: { note: MARKUP.script, link: MARKUP.link, env: 'hostile' },
    };
    const r = await send(`${url}/api/agents/register`, { json: { enrollment_token: enrollmentToken, ...facts } });
    if (r.status !== 201) throw new Error(`hostile agent could not enroll: ${r.text}`);
    const agent = new HtmlHostileAgent(name, r.body.agent_token as string, url);
    const hb = await send(`${url}/api/agents/heartbeat`, { headers: { 'x-agent-token': agent.#token }, json: { ...facts, uptime_seconds: 1, running: 0 } });
    if (hb.status !== 200) throw new Error(`heartbeat refused: ${hb.text}`);
    agent.#loop = Promise.all([agent.#serve(), agent.#beat(facts, (hb.body as { heartbeat_interval_seconds: number }).heartbeat_interval_seconds)]).then(() => {});
    return agent;
  }

  /** Heartbeats on the interval the control plane asks for, as a real agent does, so it stays online. */
  async #beat(facts: Record<string, unknown>, intervalSeconds: number): Promise<void> {
    const headers = { 'x-agent-token': this.#token };
    for (let beat = 2; !this.#stopped; beat++) {
      await new Promise((res) => setTimeout(res, intervalSeconds * 1000));
      await send(`${this.#url}/api/agents/heartbeat`, { headers, json: { ...facts, uptime_seconds: beat, running: 0 } }).catch(() => {});
    }
  }

  /** Long-polls for commands and answers each with hostile output (live, then as its result). */
  async #serve(): Promise<void> {
    const headers = { 'x-agent-token': this.#token };
    while (!this.#stopped) {
      const r = await send(`${this.#url}/api/agents/poll?wait=1`, { headers }).catch(() => null);
      if (!r || r.status !== 200) {
        await new Promise((res) => setTimeout(res, 200));
        continue;
      }
      for (const c of (r.body as PollResponse).commands) await this.#answer(c, headers);
    }
  }

  async #answer(c: ExecuteRequest, headers: Record<string, string>): Promise<void> {
    const now = new Date().toISOString();
    await send(`${this.#url}/api/agents/commands/${c.command_id}/progress`, { headers, json: { started_at: now, chunks: [{ offset: 0, stream: 'stdout', data: HOSTILE_OUTPUT }] } });
    const result: CommandResult = {
      status: 'failed', exit_code: 1, signal: null, error: MARKUP.anchor, started_at: now, finished_at: new Date().toISOString(),
      stdout: HOSTILE_OUTPUT, stderr: '', stdout_bytes: Buffer.byteLength(HOSTILE_OUTPUT), stderr_bytes: 0, stdout_truncated: false, stderr_truncated: false,
    };
    await send(`${this.#url}/api/agents/commands/${c.command_id}/result`, { headers, json: result });
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    await this.#loop;
  }
}
