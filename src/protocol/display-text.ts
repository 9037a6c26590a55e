// Text that came from an agent (names, hostnames, labels, error messages, output) is data, never a
// terminal instruction. Every view a person reads (CLI tables and status lines, logs) passes it
// through here: control characters become visible escapes (`\x1b`, `\x0a`, `\u202e`), so an
// escape sequence cannot drive the terminal (OSC 52 writes the clipboard), a newline cannot forge
// a line, and a bidi override cannot reorder what is shown.

/**
 * What is escaped: C0 (U+0000-001F), DEL, C1 (U+0080-009F, which some terminals obey as 8-bit
 * CSI/OSC), the bidi marks, embeddings, overrides and isolates (U+061C, U+200E-200F,
 * U+202A-202E, U+2066-2069) and the line and paragraph separators U+2028-2029.
 */
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]/g;
/** The same, but a block of text keeps its newlines and tabs. */
const UNSAFE_IN_BLOCK = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]/g;
/** Those of UNSAFE that JSON.stringify leaves as they are (it escapes C0 itself). */
const UNSAFE_IN_JSON = /[\u007f-\u009f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]/g;

/**
 * Terminal control sequences, matched whole so that stripping leaves no parameter bytes behind:
 * CSI (`ESC [` or U+009B ... final byte), OSC, DCS, SOS, PM and APC strings (`ESC ] ... BEL` or
 * `... ST`, or their C1 forms), and the two-byte `ESC X` ones. An unterminated string runs to the
 * end of the text, as a terminal would take it.
 */
const SEQUENCE = new RegExp(
  [
    '(?:\\u001b\\[|\\u009b)[\\u0030-\\u003f]*[\\u0020-\\u002f]*[\\u0040-\\u007e]?',
    '(?:\\u001b[\\]PX^_]|[\\u0090\\u0098\\u009d\\u009e\\u009f])[^\\u0007\\u001b\\u009c]*(?:\\u0007|\\u001b\\\\|\\u009c)?',
    '\\u001b[\\u0020-\\u002f]*[\\u0030-\\u007e]?',
  ].join('|'),
  'g',
);

/** A fresh global RegExp matching every terminal control sequence whole (the web console renders SGR colours and drops the rest). */
export function terminalSequences(): RegExp {
  return new RegExp(SEQUENCE.source, 'g');
}

function escape(ch: string): string {
  const code = ch.charCodeAt(0);
  return code < 0x100 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
}

/** One line of agent-supplied text: every control character escaped, newlines and tabs included. */
export function displayText(text: string): string {
  return text.replace(UNSAFE, escape);
}

/** Several lines of agent-supplied text: as displayText, but newlines and tabs stay. */
export function displayBlock(text: string): string {
  return text.replace(UNSAFE_IN_BLOCK, escape);
}

/**
 * Command output with its terminal control sequences removed (`--strip-control`): colours,
 * cursor moves, titles, clipboard writes and the like are dropped, carriage returns that end a
 * line (CRLF, or the end of the text, which may be one line of several) are dropped too, and any
 * other control character is shown escaped, as displayBlock does.
 */
export function stripControl(text: string): string {
  return displayBlock(text.replace(SEQUENCE, '').replace(/\r+(?=\n|$)/g, ''));
}

/**
 * JSON for a terminal: the same value (JSON.parse gives back exactly what went in), with the
 * characters JSON.stringify leaves raw (DEL, C1, bidi controls, U+2028-2029) written as \u escapes.
 * They can only occur inside strings, so the escape is always valid JSON.
 */
export function displayJson(value: unknown, indent?: number): string {
  return escapeJsonText(JSON.stringify(value, null, indent));
}

/** A JSON text made safe to show as it is (see displayJson). */
export function escapeJsonText(json: string): string {
  return json.replace(UNSAFE_IN_JSON, (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
