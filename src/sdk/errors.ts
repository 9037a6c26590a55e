// The one error the SDK throws: the API's stable `code` (src/protocol/errors.ts, docs/protocol.md)
// and HTTP `status` when the control plane answered, a transport code (ECONNREFUSED,
// CERT_PIN_MISMATCH, ...) and status 0 when it did not, or one of the SDK's own codes below.

import { RequestFailedError } from '../common/request-error.ts';
import type { ErrorCode } from '../protocol/errors.ts';

/** Codes the SDK itself gives (status 0): the call never reached a control plane. */
export type SdkErrorCode =
  /** connect() was given options it cannot use (no token, a malformed fingerprint or URL, both server and dataDir). */
  | 'CONNECT_OPTIONS_INVALID'
  /** connect({ dataDir }) found no readable server.json or operator.token there. */
  | 'DATA_DIR_UNREADABLE'
  /** A wait or a stream was stopped by its AbortSignal. */
  | 'ABORTED';

export class MyxError extends RequestFailedError {
  /** The API's code (`RUN_NOT_FOUND`, `ROLE_FORBIDDEN`, ...), a transport code (`ECONNREFUSED`, `CERT_PIN_MISMATCH`), or an SdkErrorCode. */
  declare readonly code: ErrorCode | SdkErrorCode | (string & {});

  constructor(status: number, code: string, message: string, reached = status > 0) {
    super(status, code, message, reached);
    this.name = 'MyxError';
  }

  /** Any error of a call, as a MyxError (a RequestFailedError keeps its status, code and `reached`). */
  static from(err: unknown): MyxError {
    if (err instanceof MyxError) return err;
    if (err instanceof RequestFailedError) return new MyxError(err.status, err.code, err.message, err.reached);
    const e = err as NodeJS.ErrnoException;
    // a cut event stream, a socket error while reading an answer: nothing says the server saw the end
    return new MyxError(0, typeof e?.code === 'string' ? e.code : 'REQUEST_FAILED', e?.message ?? String(err), true);
  }
}
