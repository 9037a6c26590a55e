// One way to call a myx HTTPS JSON API (agent -> control plane, control plane -> agent, CLI ->
// control plane), turning transport failures into one error type with a readable reason.

import { request, type Dispatcher } from 'undici';
import { isErrorBody } from '../protocol/errors.ts';

export class RequestFailedError extends Error {
  /** HTTP status, or 0 when no response arrived (refused, TLS, timeout). */
  readonly status: number;
  /** The server's error code, or the transport error's code. */
  readonly code: string;
  constructor(status: number, code: string, message: string) {
    super(message);
    this.name = 'RequestFailedError';
    this.status = status;
    this.code = code;
  }
  /** Worth retrying later: nothing arrived, or the peer had a server-side problem. */
  get retryable(): boolean {
    return this.status === 0 || this.status >= 500 || this.status === 429;
  }
}

export interface JsonRequest {
  method: 'GET' | 'POST' | 'DELETE';
  url: string;
  dispatcher: Dispatcher;
  headers?: Record<string, string>;
  body?: unknown;
  /** ms to wait for the response headers, @default 10000 */
  timeoutMs?: number;
}

export interface JsonResponse<T> {
  status: number;
  body: T;
}

/** Sends the request; 2xx answers resolve, anything else rejects with RequestFailedError. */
export async function requestJson<T>(req: JsonRequest): Promise<JsonResponse<T>> {
  const headers: Record<string, string> = { accept: 'application/json', ...req.headers };
  let payload: string | undefined;
  if (req.body !== undefined) {
    payload = JSON.stringify(req.body);
    headers['content-type'] = 'application/json';
  }
  const timeout = req.timeoutMs ?? 10_000;
  let res: Dispatcher.ResponseData;
  try {
    res = await request(req.url, {
      method: req.method,
      headers,
      body: payload,
      dispatcher: req.dispatcher,
      headersTimeout: timeout,
      bodyTimeout: timeout,
    });
  } catch (err) {
    throw transportError(err, req.url);
  }
  const text = await res.body.text().catch(() => '');
  let parsed: unknown;
  try {
    parsed = text.length > 0 ? JSON.parse(text) : undefined;
  } catch {
    parsed = undefined;
  }
  if (res.statusCode >= 200 && res.statusCode < 300) return { status: res.statusCode, body: parsed as T };
  if (isErrorBody(parsed)) throw new RequestFailedError(res.statusCode, parsed.error.code, parsed.error.message);
  throw new RequestFailedError(res.statusCode, `HTTP_${res.statusCode}`, `${new URL(req.url).host} answered HTTP ${res.statusCode}`);
}

function transportError(err: unknown, url: string): RequestFailedError {
  const e = err as NodeJS.ErrnoException & { cause?: NodeJS.ErrnoException };
  const code = e.code ?? e.cause?.code ?? 'REQUEST_FAILED';
  const host = new URL(url).host;
  const reasons: Record<string, string> = {
    ECONNREFUSED: `connection refused by ${host} (is it running and listening there?)`,
    ENOTFOUND: `cannot resolve ${host}`,
    ETIMEDOUT: `timed out connecting to ${host}`,
    UND_ERR_CONNECT_TIMEOUT: `timed out connecting to ${host}`,
    UND_ERR_HEADERS_TIMEOUT: `${host} did not answer in time`,
    UND_ERR_BODY_TIMEOUT: `${host} did not finish its answer in time`,
    UND_ERR_SOCKET: `connection to ${host} closed unexpectedly`,
    ECONNRESET: `connection to ${host} was reset`,
    EPROTO: `TLS handshake with ${host} failed (is it speaking HTTPS?)`,
  };
  const message = code === 'CERT_PIN_MISMATCH' ? e.message : reasons[code] ?? `request to ${host} failed: ${e.message}`;
  return new RequestFailedError(0, code, message);
}
