// The URLs of one control plane (its replicas, or one name with several addresses) and the one way
// agents and the CLI call it through them: a call goes to the URL that answered last and moves on
// to the next when that one failed as a replica fails (not as a request is refused), so both fail
// over without an operator. Every URL is pinned to the same certificate by the caller's pool.

import { RequestFailedError } from './request-error.ts';

/**
 * After which failures a call may be sent to the next URL:
 * - `idempotent`: whenever the replica failed rather than the request: no answer at all (refused,
 *   reset, timed out, TLS or pin failure) or a 5xx. For reads, waits, and the agent's reports
 *   (results and output are idempotent writes; a hand-out that never reached the agent is given back).
 * - `unsent`: only when the request surely never reached a server (no connection was ever handed
 *   to it): for a call that creates something (a run), which must never be sent twice blindly.
 * A 4xx is the request's fault (or the caller's: a bad token, a removed agent) and never moves on.
 */
export type Resend = 'idempotent' | 'unsent';

export interface UrlSwitch {
  from: string;
  to: string;
  /** Why `from` was left: its failure. */
  reason: string;
}

export function canResend(err: unknown, resend: Resend): boolean {
  if (!(err instanceof RequestFailedError)) return false;
  if (resend === 'unsent') return err.status === 0 && !err.reached;
  return err.status === 0 || err.status >= 500;
}

export class ServerUrls {
  #urls: string[];
  #current: string;
  readonly #onSwitch: (s: UrlSwitch) => void;

  /** `onSwitch`: called once each time calls move to another URL (a call there went through). */
  constructor(urls: string[], onSwitch: (s: UrlSwitch) => void = () => {}) {
    if (urls.length === 0) throw new Error('no control plane URL');
    this.#urls = [...new Set(urls)];
    this.#current = this.#urls[0]!;
    this.#onSwitch = onSwitch;
  }

  get urls(): readonly string[] {
    return this.#urls;
  }

  /** The URL calls go to first. */
  get current(): string {
    return this.#current;
  }

  /** Replaces the list (URLs learned from the control plane); calls keep going to the current URL while it is listed. */
  replace(urls: string[]): void {
    if (urls.length === 0) return;
    this.#urls = [...new Set(urls)];
    if (!this.#urls.includes(this.#current)) this.#current = this.#urls[0]!;
  }

  /**
   * `fn` on the current URL, then on each next one (in list order, once each) while the failure
   * allows it (see Resend). With one URL, a connection failure is tried once more on the same URL:
   * one name with several addresses (DNS round robin) may connect to another address the second
   * time. When every try failed, the error says what each URL did.
   */
  async call<T>(fn: (url: string) => Promise<T>, resend: Resend): Promise<T> {
    const urls = this.#urls;
    const from = this.#current;
    const start = Math.max(0, urls.indexOf(from));
    const tries = urls.length === 1 ? 2 : urls.length;
    const failures: RequestFailedError[] = [];
    for (let i = 0; i < tries; i++) {
      const url = urls[(start + i) % urls.length]!;
      try {
        const result = await fn(url);
        if (url !== this.#current && this.#current === from) {
          this.#current = url;
          this.#onSwitch({ from, to: url, reason: failures[0]?.message ?? 'no answer' });
        }
        return result;
      } catch (err) {
        const last = i === tries - 1;
        const sameUrlAgain = urls.length === 1 && (err as RequestFailedError).status !== 0;
        if (last || sameUrlAgain || !canResend(err, resend)) throw failures.length === 0 ? err : allFailed([...failures, err as RequestFailedError]);
        failures.push(err as RequestFailedError);
      }
    }
    throw new Error('unreachable');
  }
}

/** One error for a call no URL took: the last failure's status and code, every URL's reason. */
function allFailed(failures: RequestFailedError[]): RequestFailedError {
  const last = failures.at(-1)!;
  if (!(last instanceof RequestFailedError)) return last;
  const reasons = [...new Set(failures.map((f) => f.message))];
  return new RequestFailedError(last.status, last.code, reasons.join('; '), failures.some((f) => f.reached));
}
