// The one error type of a failed call to a myx HTTPS API (json-client.ts), in a file of its own
// with no Node import, so the SDK's declaration files need no Node types.

export class RequestFailedError extends Error {
  /** HTTP status, or 0 when no response arrived (refused, TLS, timeout). */
  readonly status: number;
  /** The server's error code, or the transport error's code. */
  readonly code: string;
  /**
   * Whether the request may have reached the server: true for any answer, and for a transport
   * failure once a connection was up (the request may have been read). False only when no
   * connection was ever handed to the request (refused, unreachable, TLS or pin failure, no free
   * connection in time): then resending it elsewhere cannot do anything twice.
   */
  readonly reached: boolean;
  constructor(status: number, code: string, message: string, reached = status > 0) {
    super(message);
    this.name = 'RequestFailedError';
    this.status = status;
    this.code = code;
    this.reached = reached;
  }
  /** Worth retrying later: nothing arrived, the peer had a server-side problem, or it timed the request out (408). */
  get retryable(): boolean {
    return this.status === 0 || this.status >= 500 || this.status === 429 || this.status === 408;
  }
}
