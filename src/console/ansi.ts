// Command output for the page: SGR colour codes become styled segments (CSS classes), every other
// terminal sequence (cursor moves, titles, clipboard writes, ...) is dropped, and any control
// character left is shown escaped, as the CLI does. The page puts segments in as text, never
// as markup, so nothing in output can become HTML or a link.

import { displayBlock, terminalSequences } from '../protocol/display-text.ts';

export interface Segment {
  text: string;
  /** CSS classes: `fg-N` / `bg-N` (the 16 terminal colours), `b`, `dim`, `i`, `u`; empty for plain text. */
  cls: string;
}

interface Style {
  fg: number | null;
  bg: number | null;
  bold: boolean;
  dim: boolean;
  italic: boolean;
  underline: boolean;
  inverse: boolean;
}

const PLAIN: Style = { fg: null, bg: null, bold: false, dim: false, italic: false, underline: false, inverse: false };
const SGR = /^(?:\u001b\[|\u009b)([0-9;]*)m$/;

export function parseAnsi(input: string): Segment[] {
  const out: Segment[] = [];
  let style = { ...PLAIN };
  let at = 0;
  const push = (raw: string) => {
    if (raw.length === 0) return;
    const text = displayBlock(raw.replace(/\r+\n/g, '\n').replace(/\r/g, '\n'));
    const cls = classes(style);
    const last = out[out.length - 1];
    if (last && last.cls === cls) last.text += text;
    else out.push({ text, cls });
  };
  for (const m of input.matchAll(terminalSequences())) {
    push(input.slice(at, m.index));
    at = m.index + m[0].length;
    const sgr = SGR.exec(m[0]);
    if (sgr) style = apply(style, sgr[1]!);
  }
  push(input.slice(at));
  return out;
}

function apply(prev: Style, params: string): Style {
  const s = { ...prev };
  const codes = params === '' ? [0] : params.split(';').map((p) => (p === '' ? 0 : Number(p)));
  for (let i = 0; i < codes.length; i++) {
    const c = codes[i]!;
    if (c === 0) Object.assign(s, PLAIN);
    else if (c === 1) s.bold = true;
    else if (c === 2) s.dim = true;
    else if (c === 3) s.italic = true;
    else if (c === 4) s.underline = true;
    else if (c === 7) s.inverse = true;
    else if (c === 22) s.bold = s.dim = false;
    else if (c === 23) s.italic = false;
    else if (c === 24) s.underline = false;
    else if (c === 27) s.inverse = false;
    else if (c >= 30 && c <= 37) s.fg = c - 30;
    else if (c >= 90 && c <= 97) s.fg = c - 90 + 8;
    else if (c === 39) s.fg = null;
    else if (c >= 40 && c <= 47) s.bg = c - 40;
    else if (c >= 100 && c <= 107) s.bg = c - 100 + 8;
    else if (c === 49) s.bg = null;
    else if (c === 38 || c === 48) {
      // 256 colours (`;5;N`: the first 16 are shown, others left plain) or RGB (`;2;R;G;B`: left plain)
      const mode = codes[i + 1];
      const n = mode === 5 ? codes[i + 2] : undefined;
      const colour = n !== undefined && n < 16 ? n : null;
      if (c === 38) s.fg = colour;
      else s.bg = colour;
      i += mode === 5 ? 2 : mode === 2 ? 4 : 1;
    }
  }
  return s;
}

function classes(s: Style): string {
  const fg = s.inverse ? (s.bg ?? 'inv-fg') : s.fg;
  const bg = s.inverse ? (s.fg ?? 'inv-bg') : s.bg;
  const out: string[] = [];
  if (fg !== null) out.push(typeof fg === 'number' ? `fg-${fg}` : fg);
  if (bg !== null) out.push(typeof bg === 'number' ? `bg-${bg}` : bg);
  if (s.bold) out.push('b');
  if (s.dim) out.push('dim');
  if (s.italic) out.push('i');
  if (s.underline) out.push('u');
  return out.join(' ');
}
