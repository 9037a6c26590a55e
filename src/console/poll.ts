// Live data by polling: fetch now, then every `everyMs` while the page shows it (and `active`),
// keeping the last good answer when a poll fails (a network blip shows as a note, not a blank page).

import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiFailure } from './api.ts';

export interface Polled<T> {
  data: T | undefined;
  error: ApiFailure | undefined;
  /** Fetch again now (after a change the page made). */
  refresh: () => void;
}

export function usePoll<T>(fetcher: () => Promise<T>, everyMs: number, deps: unknown[], active = true): Polled<T> {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<ApiFailure | undefined>(undefined);
  const [tick, setTick] = useState(0);
  const latest = useRef(fetcher);
  latest.current = fetcher;
  useEffect(() => {
    setData(undefined);
    setError(undefined);
  }, deps);
  useEffect(() => {
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const run = async () => {
      try {
        const value = await latest.current();
        if (!stopped) {
          setData(value);
          setError(undefined);
        }
      } catch (err) {
        if (!stopped) setError(err instanceof ApiFailure ? err : new ApiFailure(0, 'ERROR', String(err)));
      }
      if (!stopped && active) timer = setTimeout(run, everyMs);
    };
    void run();
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, [...deps, active, tick]);
  return { data, error, refresh: () => setTick((n) => n + 1) };
}
