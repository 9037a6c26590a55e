// What both HTTPS services do with traffic that never reaches a route handler: bodies that are not
// UTF-8, URLs and HTTP that do not parse, oversized headers, unknown expectations, clients too slow
// to finish their request, CONNECT, plain HTTP sent to the HTTPS port, and closing without resetting a
// client that is still sending. Every answer is the usual
// `{ error: { code, message } }`, and no such client can hold a connection for long.

import { isUtf8 } from 'node:buffer';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Server as TlsServer } from 'node:tls';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ApiError, type ErrorCode } from '../protocol/errors.ts';

/**
 * Node's limits for slow clients, in the https server options. A request's line and headers must
 * arrive within `headersTimeout` of the connection (or of the request) starting; the body within the
 * app's `requestTimeout`. Long polls and event streams are not affected: they are slow to answer, not
 * slow to ask.
 */
export const SLOW_CLIENT_LIMITS = {
  /** TLS handshake. */
  handshakeTimeout: 10_000,
  headersTimeout: 10_000,
  /** How often Node looks for requests past these limits. */
  connectionsCheckingInterval: 2_000,
  /** The Host header means nothing to myx; its absence is not worth a bare 400. */
  requireHostHeader: false,
} as const;

/**
 * Closing after an answer that did not read the whole request (413, say): after our answer and a
 * half-close, what the client still sends is read and dropped for this long, or this much, at most.
 */
const LINGER_MS = 5_000;
const LINGER_BYTES = 64 * 1024 * 1024;
/** A connection that has sent no byte at all after this long is closed. */
const FIRST_BYTE_TIMEOUT_MS = 10_000;
/** The first byte of every TLS connection: a handshake record. */
const TLS_HANDSHAKE_RECORD = 0x16;

/** Errors the router raises before any route runs (bad percent-encoding, a path segment too long). */
export function frameworkErrors(err: FastifyError, _req: FastifyRequest, reply: FastifyReply): void {
  const e = err.code === 'FST_ERR_MAX_PARAM_LENGTH'
    ? new ApiError('BAD_REQUEST', 'a path segment of the URL is too long')
    : new ApiError('BAD_REQUEST', 'the URL is not valid (bad percent-encoding?)');
  void reply.code(e.status).send(e.toBody());
}

/** HTTP that does not parse, headers too large, a request too slow: answered, then closed. */
export function clientErrorHandler(err: NodeJS.ErrnoException, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const e = err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? new ApiError('REQUEST_TIMEOUT')
    : err.code === 'HPE_HEADER_OVERFLOW' ? new ApiError('HEADERS_TOO_LARGE')
    : new ApiError('BAD_REQUEST', `malformed HTTP request${err.code ? ` (${err.code})` : ''}`);
  answerAndClose(socket, e);
}

/** Everything that needs the app or its server: strict UTF-8 JSON bodies, `Expect`, plain HTTP. */
export function hardenHttpApp(app: FastifyInstance, tls: boolean): void {
  // RFC 8259: JSON is UTF-8. Decoding invalid bytes to U+FFFD would store (and run) something
  // other than what was sent, so such a body is refused instead.
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (req, body: Buffer, done) => {
    if (!isUtf8(body)) {
      done(new ApiError('BODY_NOT_UTF8'), undefined);
      return;
    }
    const text = body.toString('utf8');
    parseJson(req, text, (err, value) => {
      if (err && isJson(text)) done(new ApiError('BAD_REQUEST', 'the body may not use the keys "__proto__" or "constructor.prototype"'), undefined);
      else done(err, value);
    });
  });
  app.removeContentTypeParser('text/plain'); // JSON only: anything else is 415
  app.server.on('checkExpectation', (_req: IncomingMessage, res: ServerResponse) => {
    const e = new ApiError('EXPECTATION_FAILED');
    res.writeHead(e.status, { 'content-type': 'application/json; charset=utf-8', connection: 'close' });
    res.end(JSON.stringify(e.toBody()));
  });
  // CONNECT (authority-form targets) never reaches a route: without this, Node closes the connection unanswered
  app.server.on('connect', (_req: IncomingMessage, socket: Socket) => answerAndClose(socket, new ApiError('METHOD_NOT_ALLOWED', 'CONNECT is not supported: this is not a proxy')));
  if (tls) answerPlainHttp(app.server as unknown as TlsServer);
  app.server.on(tls ? 'secureConnection' : 'connection', (socket: Socket) => {
    socket.destroySoon = lingeringClose;
  });
}

/**
 * Node closes a connection right after an answer sent with `connection: close` (Fastify sends one
 * when it stopped reading a body: too large, not JSON). A client still sending that body then gets
 * a TCP reset, which can destroy our answer before it reads it: it sees EPIPE instead of 413. So,
 * as RFC 9112 section 9.6 says: half-close after the answer, read and drop what the client still
 * sends until it closes, and close for good after LINGER_MS or LINGER_BYTES.
 */
function lingeringClose(this: Socket): void {
  if (this.destroyed) return;
  if (this.writable) this.end();
  const stop = () => this.destroy();
  const timer = setTimeout(stop, LINGER_MS);
  timer.unref();
  let dropped = 0;
  this.on('data', (d: Buffer) => {
    dropped += d.length;
    if (dropped > LINGER_BYTES) stop();
  });
  this.once('end', stop);
  this.once('close', () => clearTimeout(timer));
  this.resume();
}

/**
 * Looks at the first byte of every connection before TLS starts: a handshake goes on to TLS as
 * usual; anything else (plain HTTP to the HTTPS port) gets a plain-text HTTP 400 in JSON that says
 * to use https://. A connection that sends nothing is closed after FIRST_BYTE_TIMEOUT_MS.
 */
function answerPlainHttp(server: TlsServer): void {
  const tlsListeners = server.listeners('connection') as ((this: TlsServer, socket: Socket) => void)[];
  server.removeAllListeners('connection');
  server.on('connection', (socket: Socket) => {
    const onError = () => socket.destroy();
    const timer = setTimeout(() => socket.destroy(), FIRST_BYTE_TIMEOUT_MS);
    const onClose = () => clearTimeout(timer);
    socket.on('error', onError);
    socket.on('close', onClose);
    socket.once('data', (first: Buffer) => {
      clearTimeout(timer);
      // nothing of this check stays with the connection (its timer, this scope) for as long as it is open
      socket.off('close', onClose);
      socket.pause();
      socket.unshift(first); // TLS reads what is buffered before it reads the socket
      if (first[0] !== TLS_HANDSHAKE_RECORD) {
        answerAndClose(socket, new ApiError('PLAIN_HTTP'));
        return;
      }
      socket.off('error', onError);
      for (const listener of tlsListeners) listener.call(server, socket);
    });
  });
}

function isJson(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

function answerAndClose(socket: Socket, e: ApiError): void {
  const body = JSON.stringify(e.toBody());
  if (socket.writable) {
    socket.end(`HTTP/1.1 ${e.status} ${REASONS[e.code] ?? 'Bad Request'}\r\ncontent-type: application/json; charset=utf-8\r\n`
      + `content-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
  }
  setTimeout(() => socket.destroy(), 1000).unref();
}

const REASONS: Partial<Record<ErrorCode, string>> = {
  METHOD_NOT_ALLOWED: 'Method Not Allowed',
  REQUEST_TIMEOUT: 'Request Timeout',
  HEADERS_TOO_LARGE: 'Request Header Fields Too Large',
};
