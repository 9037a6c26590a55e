// A windowed list: of thousands of rows (agents, hosts of a run), only those in view (and a few
// around them) are in the page. Rows have one fixed height; the rest is two spacers. Heights are set
// through the CSSOM (element.style), which the Content-Security-Policy allows, unlike style attributes.

import type { ComponentChildren } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';

export interface VirtualListProps<T> {
  items: T[];
  /** Pixels; must match the row's CSS height. */
  rowHeight: number;
  row: (item: T, index: number) => ComponentChildren;
  /** Class of the scrolling box (gives it its height). */
  class?: string;
  label: string;
}

const OVERSCAN = 8;

export function VirtualList<T>(props: VirtualListProps<T>) {
  const box = useRef<HTMLDivElement>(null);
  const [view, setView] = useState({ top: 0, height: 600 });
  useEffect(() => {
    const el = box.current!;
    const update = () => setView({ top: el.scrollTop, height: el.clientHeight || 600 });
    update();
    el.addEventListener('scroll', update, { passive: true });
    const resize = new ResizeObserver(update);
    resize.observe(el);
    return () => {
      el.removeEventListener('scroll', update);
      resize.disconnect();
    };
  }, []);
  const n = props.items.length;
  const first = Math.max(0, Math.floor(view.top / props.rowHeight) - OVERSCAN);
  const last = Math.min(n, Math.ceil((view.top + view.height) / props.rowHeight) + OVERSCAN);
  const visible = props.items.slice(first, last);
  return (
    <div ref={box} class={`vlist ${props.class ?? ''}`} role="list" aria-label={props.label} tabIndex={-1}>
      <div style={{ height: `${first * props.rowHeight}px` }} aria-hidden="true" />
      {visible.map((item, i) => props.row(item, first + i))}
      <div style={{ height: `${(n - last) * props.rowHeight}px` }} aria-hidden="true" />
    </div>
  );
}
