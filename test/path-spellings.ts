// Generates the ways one request path can be written as an HTTP request target: each character
// percent-encoded (lower- and upper-case hex), everything encoded, double encoding, dot segments,
// duplicate slashes, backslashes, absolute-form and scheme-relative targets, trailing slashes,
// ;params, ?query and #fragment, overlong and full-width slashes, case changes, and mixes of them.
// Each spelling either reaches the same route (the router decodes it) or none: both must be safe.

export interface Spelling {
  what: string;
  target: string;
}

export function spellingsOf(pathAndQuery: string, authority: string): Spelling[] {
  const q = pathAndQuery.indexOf('?');
  const path = q < 0 ? pathAndQuery : pathAndQuery.slice(0, q);
  const query = q < 0 ? '' : pathAndQuery.slice(q);
  const out = new Map<string, string>();
  const add = (what: string, target: string) => {
    if (!out.has(target)) out.set(target, what);
  };
  const hex = (c: string, upper: boolean) => {
    const h = Buffer.from(c, 'utf8').toString('hex').match(/../g)!.map((b) => `%${b}`).join('');
    return upper ? h.toUpperCase() : h.toLowerCase();
  };
  const slashes = [...path].flatMap((c, i) => (c === '/' ? [i] : []));
  const at = (i: number, insert: string, drop = 0) => path.slice(0, i) + insert + path.slice(i + drop);

  add('as is', path + query);
  // one character encoded, every position, both cases; and double-encoded
  for (let i = 0; i < path.length; i++) {
    add(`character ${i} encoded`, at(i, hex(path[i]!, false), 1) + query);
    add(`character ${i} encoded, upper-case hex`, at(i, hex(path[i]!, true), 1) + query);
    add(`character ${i} double-encoded`, at(i, hex(path[i]!, false).replaceAll('%', '%25'), 1) + query);
  }
  const encodeAll = (keepSlashes: boolean, upper: boolean) => [...path].map((c) => (keepSlashes && c === '/' ? c : hex(c, upper))).join('');
  add('every character but slashes encoded', encodeAll(true, false) + query);
  add('every character but slashes encoded, upper-case hex', encodeAll(true, true) + query);
  add('every character encoded', encodeAll(false, false) + query);
  add('every character but slashes double-encoded', encodeAll(true, false).replaceAll('%', '%25') + query);
  // letters alternately encoded in lower and upper case
  add('mixed-case encodings', [...path].map((c, i) => (c === '/' ? c : hex(c, i % 2 === 0))).join('') + query);
  // dot segments, duplicate and odd slashes, at every slash
  for (const i of slashes) {
    add(`/. at ${i}`, at(i, '/.') + query);
    add(`/x/.. at ${i}`, at(i, '/x/..') + query);
    add(`/%2e at ${i}`, at(i, '/%2e') + query);
    add(`/x/%2E%2E at ${i}`, at(i, '/x/%2E%2E') + query);
    add(`/x/.%2e at ${i}`, at(i, '/x/.%2e') + query);
    add(`// at ${i}`, at(i, '/') + query);
    add(`/// at ${i}`, at(i, '//') + query);
    add(`backslash at ${i}`, at(i, '\\', 1) + query);
    add(`%5c at ${i}`, at(i, '%5c', 1) + query);
    add(`overlong slash at ${i}`, at(i, '%c0%af', 1) + query);
    add(`full-width slash at ${i}`, at(i, '%ef%bc%8f', 1) + query);
    add(`;param before ${i}`, i > 0 ? at(i, ';x=1') + query : `;x${path}${query}`);
  }
  add('/.. above the root', `/..${path}${query}`);
  add('/%2e%2e above the root', `/%2e%2e${path}${query}`);
  add('all slashes as backslashes', path.replaceAll('/', '\\') + query);
  // absolute-form and friends
  for (const origin of [`https://${authority}`, `http://${authority}`, 'https://elsewhere.example', `HTTPS://${authority.toUpperCase()}`,
    `https://user:pw@${authority}`, `https://${authority}:`, 'https://[::1]', `//${authority}`, 'https:', 'h:']) {
    add(`absolute-form ${origin}`, origin + path + query);
  }
  add('absolute-form with an encoded character', `https://${authority}${at(2, hex(path[2] ?? 'a', true), 1)}${query}`);
  add('absolute-form with a dot segment', `https://${authority}/x/..${path}${query}`);
  // endings
  for (const end of ['/', '/.', '//', '/..', '%2f', '%2F', '%20', '%00', '%09', '.', ';', ';x', '%3b', '%3f', '%23', '~', '*']) {
    add(`${end} at the end`, path + end + query);
  }
  const sep = query ? '&' : '?';
  for (const tail of ['?', '??', `${sep}x=1`, '#', '#frag', '?#', `${sep}/../x`, '#/../../x', `${sep}x=%00`]) {
    add(`${tail} after`, path + query + tail);
  }
  // case
  add('upper case', path.toUpperCase() + query);
  add('first letter upper case', at(1, (path[1] ?? '').toUpperCase(), 1) + query);
  // mixes
  add('mixed: encoded, query and fragment', `${at(1, hex(path[1] ?? 'a', false), 1)}${query}${query ? '&' : '?'}x#y`);
  add('mixed: duplicate slash and encoded', `/${at(3, hex(path[3] ?? 'a', true), 1)}${query}`);
  add('mixed: absolute-form, dot segment, encoding, fragment', `https://${authority}/./${encodeAll(true, true).slice(1)}${query}#x`);
  add('mixed: double-encoded slash and dot segments', `${path.replaceAll('/', '/%252e/')}${query}`);
  return [...out].map(([target, what]) => ({ what, target }));
}

/** Asterisk-form and authority-form targets, which name no path at all. */
export function pathlessTargets(authority: string): Spelling[] {
  return [
    { what: 'asterisk-form', target: '*' },
    { what: 'authority-form', target: authority },
    { what: 'authority-form without port', target: authority.split(':')[0]! },
  ];
}
