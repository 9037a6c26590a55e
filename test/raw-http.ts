// HTTP for tests that send what no well-behaved client sends: any method, headers and body bytes
// over node:https (kept-alive, certificates not verified, optionally from another loopback address
// or presenting a client certificate), or raw bytes over TLS or plain TCP.

import type { IncomingHttpHeaders } from 'node:http';
import { Agent, request } from 'node:https';
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { ERRORS } from '../src/protocol/errors.ts';

export interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
  /** The parsed JSON body, or undefined when it is not JSON. */
  body: any;
}

export interface SendOptions {
  method?: string;
  headers?: Record<string, string | string[]>;
  /** Sent as JSON (with content-type application/json unless `headers` says otherwise). */
  json?: unknown;
  /** Sent as is (add a content-type yourself). */
  raw?: string | Buffer;
  /** Local address to send from (127.0.0.N), so rate limits per address stay out of the way. */
  from?: string;
  /** Client certificate (mutual TLS). */
  cert?: string;
  key?: string;
  timeoutMs?: number;
}

const pool = new Agent({ keepAlive: true, rejectUnauthorized: false, maxSockets: 8, maxFreeSockets: 8 });

/** Closes the kept-alive connections (call in `after`). */
export function closePool(): void {
  pool.destroy();
}

export function send(url: string, o: SendOptions = {}): Promise<Reply> {
  const payload = o.raw ?? (o.json === undefined ? undefined : JSON.stringify(o.json));
  const headers: Record<string, string | string[]> = {
    ...(o.json !== undefined ? { 'content-type': 'application/json' } : {}),
    ...(payload !== undefined ? { 'content-length': String(Buffer.byteLength(payload)) } : {}),
    ...o.headers,
  };
  // the path goes out verbatim: a URL object would resolve `..` and `%2e%2e` before sending
  const m = /^https:\/\/([^/:]+):(\d+)(\/.*)$/.exec(url);
  if (!m) throw new Error(`not an https URL with a port and a path: ${url}`);
  return new Promise((resolve, reject) => {
    let answered = false;
    const req = request({
      host: m[1], port: Number(m[2]), path: m[3],
      method: o.method ?? (payload === undefined ? 'GET' : 'POST'), headers, agent: pool, rejectUnauthorized: false,
      ...(o.from ? { localAddress: o.from } : {}), ...(o.cert ? { cert: o.cert, key: o.key } : {}),
    }, (res) => {
      answered = true;
      const chunks: Buffer[] = [];
      res.on('data', (d: Buffer) => chunks.push(d));
      res.on('error', reject);
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        resolve({ status: res.statusCode!, headers: res.headers, text, body: parseJson(text) });
      });
    });
    req.setTimeout(o.timeoutMs ?? 30_000, () => req.destroy(new Error(`no answer from ${url} within ${o.timeoutMs ?? 30_000} ms`)));
    // a server that refuses a big body may close before the client has written it all
    req.on('error', (err) => { if (!answered) reject(err); });
    req.end(payload);
  });
}

export interface RawReply {
  /** Everything the server sent. */
  text: string;
  /** Status of the first response, null when none came. */
  status: number | null;
  body: any;
  /** The server closed the connection (rather than the client giving up after timeoutMs). */
  closedByServer: boolean;
  ms: number;
}

export interface RawOptions {
  /** TLS (default) or plain TCP. */
  tls?: boolean;
  from?: string;
  /** Give up (and close) after this long, @default 15000 */
  timeoutMs?: number;
  /** Resolve as soon as one whole response arrived instead of waiting for the server to close. */
  firstResponse?: boolean;
  cert?: string;
  key?: string;
}

/** Writes `parts` on a new connection (a function part is called with the socket) and collects the answer. */
export function rawExchange(port: number, parts: (string | Buffer | ((s: Socket) => void | Promise<void>))[], o: RawOptions = {}): Promise<RawReply> {
  const t0 = Date.now();
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let done = false;
    const socket: Socket = o.tls === false
      ? netConnect({ port, host: '127.0.0.1', ...(o.from ? { localAddress: o.from } : {}) }, () => void write())
      : tlsConnect({
        port, host: '127.0.0.1', rejectUnauthorized: false, ...(o.from ? { localAddress: o.from } : {}),
        ...(o.cert ? { cert: o.cert, key: o.key } : {}),
      }, () => void write());
    const finish = (byServer: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      const text = Buffer.concat(chunks).toString('utf8');
      const first = parseFirstResponse(text);
      resolve({ text, status: first?.status ?? null, body: first ? parseJson(first.body) : undefined, closedByServer: byServer, ms: Date.now() - t0 });
    };
    const timer = setTimeout(() => finish(false), o.timeoutMs ?? 15_000);
    socket.on('data', (d: Buffer) => {
      chunks.push(d);
      if (o.firstResponse && parseFirstResponse(Buffer.concat(chunks).toString('utf8'))?.complete) finish(true);
    });
    socket.on('error', () => finish(true));
    socket.on('close', () => finish(true));
    async function write() {
      for (const p of parts) {
        if (done || socket.destroyed) return;
        if (typeof p === 'function') await p(socket);
        else socket.write(p);
      }
    }
  });
}

function parseFirstResponse(text: string): { status: number; body: string; complete: boolean } | undefined {
  const m = /^HTTP\/1\.[01] (\d{3})[^\r\n]*\r\n/.exec(text);
  if (!m) return undefined;
  const headEnd = text.indexOf('\r\n\r\n');
  if (headEnd < 0) return { status: Number(m[1]), body: '', complete: false };
  const length = /\r\ncontent-length: *(\d+)/i.exec(text.slice(0, headEnd));
  const rest = text.slice(headEnd + 4);
  const body = length ? rest.slice(0, Number(length[1])) : rest;
  return { status: Number(m[1]), body, complete: length ? Buffer.byteLength(rest) >= Number(length[1]) : false };
}

function parseJson(text: string): unknown {
  try {
    return text.length > 0 ? JSON.parse(text) : undefined;
  } catch {
    return undefined;
  }
}

/** What every refusal must look like: `{ error: { code, message } }`, a known code, and its status. */
export function errorProblem(r: { status: number | null; body: any }): string | null {
  const e = r.body?.error;
  if (typeof e?.code !== 'string' || typeof e?.message !== 'string') return `not an error body: ${JSON.stringify(r.body)?.slice(0, 200)}`;
  const known = (ERRORS as Record<string, { status: number }>)[e.code];
  if (!known) return `unknown error code ${e.code}`;
  if (known.status !== r.status) return `${e.code} came with status ${r.status}, not ${known.status}`;
  return null;
}

export interface RawSessionReply {
  /** null when the server closed the connection without answering. */
  status: number | null;
  headers: string;
  text: string;
  body: any;
}

/**
 * Raw HTTP/1.1 over one TLS connection, request after request (kept alive), each written exactly
 * as given: request targets no client library would send. Reconnects when the server closes.
 * A response without a content-length (an event stream, say) is returned once its head arrived.
 */
export class RawSession {
  readonly #port: number;
  readonly #o: RawOptions;
  #socket: import('node:tls').TLSSocket | undefined;
  #buffer = Buffer.alloc(0);
  #waiting: { resolve: (r: RawSessionReply) => void; timer: NodeJS.Timeout; headOnly: boolean } | undefined;

  constructor(port: number, o: RawOptions = {}) {
    this.#port = port;
    this.#o = o;
  }

  async request(head: string, body?: string | Buffer): Promise<RawSessionReply> {
    const socket = await this.#connected();
    return new Promise((resolve) => {
      const timer = setTimeout(() => this.#finish({ status: null, headers: '', text: 'no answer in time', body: undefined }, true), this.#o.timeoutMs ?? 15_000);
      this.#waiting = { resolve, timer, headOnly: head.startsWith('HEAD ') };
      socket.write(body === undefined ? head : Buffer.concat([Buffer.from(head, 'latin1'), Buffer.from(body)]));
    });
  }

  close(): void {
    this.#socket?.destroy();
    this.#socket = undefined;
  }

  #connected(): Promise<import('node:tls').TLSSocket> {
    if (this.#socket && !this.#socket.destroyed) return Promise.resolve(this.#socket);
    this.#buffer = Buffer.alloc(0);
    return new Promise((resolve, reject) => {
      const socket = tlsConnect({
        port: this.#port, host: '127.0.0.1', rejectUnauthorized: false, ...(this.#o.from ? { localAddress: this.#o.from } : {}),
        ...(this.#o.cert ? { cert: this.#o.cert, key: this.#o.key } : {}),
      }, () => resolve(socket));
      socket.once('error', reject);
      socket.on('error', () => {});
      socket.on('data', (d: Buffer) => {
        this.#buffer = Buffer.concat([this.#buffer, d]);
        this.#parse();
      });
      socket.on('close', () => {
        if (this.#socket === socket) this.#socket = undefined;
        this.#parse(true);
        if (this.#waiting) this.#finish({ status: null, headers: '', text: this.#buffer.toString('latin1'), body: undefined }, true);
      });
      this.#socket = socket;
    });
  }

  #parse(closed = false): void {
    if (!this.#waiting) return;
    const end = this.#buffer.indexOf('\r\n\r\n');
    if (end < 0) return;
    const head = this.#buffer.subarray(0, end).toString('latin1');
    const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1] ?? NaN);
    const length = /\r\ncontent-length: *(\d+)/i.exec(head);
    if (!length) {
      // no length: an event stream or a chunked answer; its head is enough, the connection is spent
      this.#finish({ status, headers: head, text: this.#buffer.subarray(end + 4).toString('utf8'), body: undefined }, true);
      return;
    }
    const total = end + 4 + (this.#waiting.headOnly ? 0 : Number(length[1]));
    if (this.#buffer.length < total && !closed) return;
    const text = this.#buffer.subarray(end + 4, total).toString('utf8');
    this.#buffer = this.#buffer.subarray(total);
    this.#finish({ status, headers: head, text, body: parseJson(text) }, /\r\nconnection: *close/i.test(head));
  }

  #finish(reply: RawSessionReply, spent: boolean): void {
    const w = this.#waiting;
    if (!w) return;
    this.#waiting = undefined;
    clearTimeout(w.timer);
    if (spent) this.close();
    w.resolve(reply);
  }
}

/**
 * A rawExchange part that writes `body` in 64 KiB pieces and stops as soon as any answer arrives:
 * a server may answer (413, 429, 404) before the body is all sent, and close. That early answer is
 * the outcome to read, and a write that fails once the server closed is no error (rawExchange reads
 * what the server sent, whatever the writes did). Between pieces, pending input gets its turn
 * (setImmediate runs after the loop has polled for I/O), so an answer is seen before the next write.
 */
export function bodyUntilAnswered(body: string | Buffer): (s: Socket) => Promise<void> {
  const bytes = typeof body === 'string' ? Buffer.from(body) : body;
  return async (s) => {
    let answered = false;
    s.on('data', () => (answered = true));
    for (let at = 0; at < bytes.length && !answered && !s.destroyed; at += 64 * 1024) {
      await new Promise<void>((resolve) => s.write(bytes.subarray(at, at + 64 * 1024), () => resolve()));
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  };
}
