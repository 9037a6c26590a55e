// One way to call a myx HTTPS JSON API (agent -> control plane, control plane -> agent, CLI ->
// control plane), turning transport failures into one error type with a readable reason.

import type { IncomingMessage } from 'node:http';
import { request } from 'node:https';
import { isErrorBody } from '../protocol/errors.ts';
import type { PinnedPool } from './pinned-pool.ts';
import { RequestFailedError } from './request-error.ts';

export { RequestFailedError } from './request-error.ts';

export interface JsonRequest {
  method: 'GET' | 'POST' | 'DELETE';
  url: string;
  pool: PinnedPool;
  headers?: Record<string, string>;
  body?: unknown;
  /** ms to wait for the whole answer, @default 10000 */
  timeoutMs?: number;
  /**
   * Never send it a second time, not even on a new connection after a kept-alive one broke under
   * it (the server may have read it before it died): for a request that creates something. @default false
   */
  sendOnce?: boolean;
}

export interface JsonResponse<T> {
  status: number;
  body: T;
}

/** Sends the request; 2xx answers resolve, anything else rejects with RequestFailedError. */
export async function requestJson<T>(req: JsonRequest): Promise<JsonResponse<T>> {
  const res = await open(req, 'application/json');
  let text: string;
  try {
    text = await readText(res);
  } catch (err) {
    throw transportError(err, req.url, true);
  }
  const parsed = parseJson(text);
  if (res.statusCode! >= 200 && res.statusCode! < 300) return { status: res.statusCode!, body: parsed as T };
  throw httpError(res.statusCode!, parsed, req.url);
}

/**
 * Opens a streaming GET (Server-Sent Events, or a download with `accept`); the caller reads the
 * body. `timeoutMs` is then a limit on silence, not on the whole answer. Non-2xx answers reject.
 */
export async function openStream(req: Omit<JsonRequest, 'method' | 'body'>, accept = 'text/event-stream'): Promise<IncomingMessage> {
  const res = await open({ ...req, method: 'GET' }, accept);
  if (res.statusCode === 200) return res;
  let text = '';
  for await (const chunk of res) text += String(chunk);
  throw httpError(res.statusCode!, parseJson(text), req.url);
}

/** Errors of a kept-alive connection the peer closed while it sat idle: the request never got there. */
const STALE_CONNECTION = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED']);

/** `reachedBefore`: an earlier attempt of this request had a connection (it may have got there). */
function open(req: JsonRequest, accept: string, retried = false, reachedBefore = false): Promise<IncomingMessage> {
  const headers: Record<string, string> = { accept, ...req.headers };
  let payload: string | undefined;
  if (req.body !== undefined) {
    payload = JSON.stringify(req.body);
    headers['content-type'] = 'application/json';
    headers['content-length'] = String(Buffer.byteLength(payload));
  }
  return new Promise((resolve, reject) => {
    const ms = req.timeoutMs ?? 10_000;
    const timedOut = () => Object.assign(new Error('timed out'), { code: 'UND_ERR_HEADERS_TIMEOUT' });
    let failed = false;
    // the pool hands the request a connection only once TLS is up and the pin checked (PinnedPool)
    let connected = false;
    const fail = (err: Error) => {
      if (failed) return;
      failed = true;
      clearTimeout(unanswered);
      // A server may close an idle kept-alive connection just as we reuse it; try once more on a new one.
      if (r.reusedSocket && !retried && !req.sendOnce && STALE_CONNECTION.has((err as NodeJS.ErrnoException).code ?? '')) {
        open(req, accept, true, true).then(resolve, reject);
        return;
      }
      reject(transportError(err, req.url, reachedBefore || connected));
    };
    const r = request(req.url, { method: req.method, headers, agent: req.pool }, (res) => {
      clearTimeout(unanswered);
      // the timeout covers the whole answer; a stream (SSE) keeps it as an idle limit
      res.once('error', () => {});
      resolve(res);
    });
    r.once('socket', () => (connected = true));
    r.setTimeout(ms, () => r.destroy(timedOut()));
    // The socket timeout above starts only once the pool hands out a connection. A request waiting
    // for one can wait forever (node's Agent does not serve its queue again after the connections it
    // tried for it failed), and nothing would ever emit an error for it: the wait counts too.
    const unanswered = setTimeout(() => {
      fail(timedOut());
      r.destroy();
    }, ms);
    // `on`, not `once`: node's Agent retries a connection for a request that waited for a socket each
    // time another connection of the pool closes, and emits every failure on that request; a second
    // 'error' with no listener crashed the agent when the control plane died under queued requests.
    r.on('error', fail);
    r.end(payload);
  });
}

/**
 * The whole body as text. Events rather than `for await`: an async iterator per response was a
 * few percent of the control plane's CPU in a fan-out (a push per command). A connection that closes
 * before the body ended rejects, as the iterator did.
 */
function readText(res: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    let ended = false;
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => (text += chunk));
    res.once('end', () => {
      ended = true;
      resolve(text);
    });
    res.once('error', reject);
    res.once('close', () => {
      if (!ended) reject(Object.assign(new Error('the connection closed before the answer ended'), { code: 'ECONNRESET' }));
    });
  });
}

function parseJson(text: string): unknown {
  try {
    return text.length > 0 ? JSON.parse(text) : undefined;
  } catch {
    return undefined;
  }
}

function httpError(status: number, body: unknown, url: string): RequestFailedError {
  if (isErrorBody(body)) return new RequestFailedError(status, body.error.code, body.error.message);
  return new RequestFailedError(status, `HTTP_${status}`, `${new URL(url).host} answered HTTP ${status}`);
}

function transportError(err: unknown, url: string, reached: boolean): RequestFailedError {
  if (err instanceof RequestFailedError) return err;
  const e = err as NodeJS.ErrnoException;
  const code = e.code ?? 'REQUEST_FAILED';
  const host = new URL(url).host;
  const reasons: Record<string, string> = {
    ECONNREFUSED: `connection refused by ${host} (is it running and listening there?)`,
    ENOTFOUND: `cannot resolve ${host}`,
    ETIMEDOUT: `timed out connecting to ${host}`,
    EHOSTUNREACH: `no route to ${host}`,
    UND_ERR_HEADERS_TIMEOUT: `${host} did not answer in time`,
    ECONNRESET: `connection to ${host} was reset`,
    EPROTO: `TLS handshake with ${host} failed (is it speaking HTTPS?)`,
  };
  const message = code === 'CERT_PIN_MISMATCH' ? e.message : reasons[code] ?? `request to ${host} failed: ${e.message}`;
  return new RequestFailedError(0, code, message, reached);
}
