// Command output as text with its colours: segments from ansi.ts, each a text node in a span.

import { useMemo } from 'preact/hooks';
import { parseAnsi } from '../ansi.ts';

export function OutputText(props: { text: string; class?: string; label?: string }) {
  const segments = useMemo(() => parseAnsi(props.text), [props.text]);
  return (
    <pre class={`output ${props.class ?? ''}`} aria-label={props.label ?? 'output'} tabIndex={0}>
      {segments.map((s, i) => (s.cls ? <span key={i} class={s.cls}>{s.text}</span> : s.text))}
    </pre>
  );
}
