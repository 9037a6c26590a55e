// A command's output as it arrives, from the control plane's event stream (GET
// /api/commands/stream, with the session cookie). The stream replays stored output first, so after
// a network blip or a control-plane restart the reconnected stream starts over and chunks already
// shown are skipped by offset, as the CLI does. Holds the last 512 KiB; the command page pages the rest.

import { useEffect, useState } from 'preact/hooks';
import type { CommandRecord, OutputChunk } from '../../protocol/wire.ts';
import { api } from '../api.ts';
import { OutputText } from './output-text.tsx';

const KEEP_CHARS = 512 * 1024;
const RETRY_MS = 2000;

type LiveState = 'connecting' | 'live' | 'reconnecting' | 'ended';

export function LiveOutput(props: { commandId: string; onFinal?: (c: CommandRecord) => void }) {
  const [text, setText] = useState('');
  const [dropped, setDropped] = useState(0);
  const [state, setState] = useState<LiveState>('connecting');
  useEffect(() => {
    let next = 0;
    let buffer = '';
    let cut = 0;
    let source: EventSource | null = null;
    let retry: ReturnType<typeof setTimeout> | undefined;
    let frame = 0;
    let stopped = false;
    setText('');
    setDropped(0);
    setState('connecting');
    const show = () => {
      frame = 0;
      setText(buffer);
      setDropped(cut);
    };
    const open = () => {
      source = new EventSource(`/api/commands/stream?ids=${encodeURIComponent(props.commandId)}`);
      source.addEventListener('open', () => setState('live'));
      source.addEventListener('output', (e) => {
        const c = JSON.parse((e as MessageEvent<string>).data) as OutputChunk;
        if (c.offset + c.data.length <= next) return; // shown before the reconnect
        buffer += c.data.slice(Math.max(0, next - c.offset));
        next = c.offset + c.data.length;
        if (buffer.length > KEEP_CHARS) {
          cut += buffer.length - KEEP_CHARS;
          buffer = buffer.slice(buffer.length - KEEP_CHARS);
        }
        frame ||= requestAnimationFrame(show);
      });
      source.addEventListener('final', (e) => props.onFinal?.(JSON.parse((e as MessageEvent<string>).data) as CommandRecord));
      source.addEventListener('end', () => {
        source?.close();
        setState('ended');
      });
      source.onerror = () => {
        if (stopped) return;
        setState('reconnecting');
        // the browser retries by itself after a network error, but gives up on an HTTP error answer
        // (a control plane that is starting, or a session that ended): then try again ourselves
        if (source?.readyState === EventSource.CLOSED) {
          retry = setTimeout(() => {
            api.get('/api/session').then(() => !stopped && open(), () => !stopped && (retry = setTimeout(open, RETRY_MS)));
          }, RETRY_MS);
        }
      };
    };
    open();
    return () => {
      stopped = true;
      source?.close();
      clearTimeout(retry);
      cancelAnimationFrame(frame);
    };
  }, [props.commandId]);
  return (
    <div class="live">
      <p class="muted small" aria-live="polite">
        <span class={`dot ${state}`} /> {state === 'live' ? 'live' : state === 'ended' ? 'ended' : state === 'connecting' ? 'connecting…' : 'connection lost, reconnecting…'}
        {dropped > 0 ? ` (the first ${dropped} characters are not shown here: open the command to page through them)` : ''}
      </p>
      <OutputText text={text} label="live output" />
    </div>
  );
}
