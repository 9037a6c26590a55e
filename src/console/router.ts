// Hash routing (`#/runs/ID`): the server serves one page at `/`, and nothing secret ever goes
// into a URL. Routes are path segments, decoded.

import { useEffect, useState } from 'preact/hooks';

export type Route = string[];

function current(): Route {
  const hash = location.hash.replace(/^#\/?/, '');
  return hash.split('/').filter((s) => s.length > 0).map((s) => {
    try {
      return decodeURIComponent(s);
    } catch {
      return s;
    }
  });
}

export function useRoute(): Route {
  const [route, setRoute] = useState(current);
  useEffect(() => {
    const on = () => setRoute(current());
    addEventListener('hashchange', on);
    return () => removeEventListener('hashchange', on);
  }, []);
  return route;
}

/** The href of a route: `href('runs', id)` is `#/runs/<id escaped>`. */
export function href(...parts: string[]): string {
  return '#/' + parts.map(encodeURIComponent).join('/');
}

export function go(...parts: string[]): void {
  location.hash = href(...parts).slice(1);
}
