/**
 * Where in the filter text the server's 400 points. The message names the token
 * (`at 14 ("Dstport"): unknown field; ...`) and `position` says where it starts; we trust the
 * token text first, because a Rust server counts UTF-8 bytes and the browser counts UTF-16 units,
 * which differ as soon as the filter holds a non-ASCII character.
 */

export interface TokenRange {
  start: number;
  end: number;
}

/** The JS string index of a UTF-8 byte offset into `text`. */
export function utf8OffsetToIndex(text: string, byteOffset: number): number {
  let bytes = 0;
  let index = 0;
  for (const ch of text) {
    if (bytes >= byteOffset) break;
    const cp = ch.codePointAt(0) ?? 0;
    bytes += cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
    index += ch.length;
  }
  return index;
}

/** The token the message quotes, e.g. `Dstport` in `at 14 ("Dstport"): ...`. */
export function quotedToken(message: string): string | null {
  const match = /\("((?:[^"\\]|\\.)*)"\)/.exec(message);
  if (!match) return null;
  try {
    return JSON.parse(`"${match[1]}"`) as string;
  } catch {
    return match[1];
  }
}

/**
 * The range to highlight, or null when the error points nowhere. An empty range at the end of the
 * text means "something is missing here" (e.g. an unclosed parenthesis).
 */
export function locateErrorToken(filter: string, message: string, position: number | null): TokenRange | null {
  const token = quotedToken(message);
  const guesses =
    position === null ? [] : [Math.min(position, filter.length), utf8OffsetToIndex(filter, position)];

  if (token) {
    // The occurrence nearest to where the server said, in case the token appears twice.
    const distance = (at: number) => (guesses.length ? Math.min(...guesses.map((g) => Math.abs(g - at))) : 0);
    let best: { at: number; distance: number } | null = null;
    for (let at = filter.indexOf(token); at >= 0; at = filter.indexOf(token, at + 1)) {
      if (best === null || distance(at) < best.distance) best = { at, distance: distance(at) };
    }
    if (best !== null) return { start: best.at, end: best.at + token.length };
  }
  if (position === null) return null;

  const start = Math.min(utf8OffsetToIndex(filter, position), filter.length);
  const word = /^[^\s()"=!<>~]+/.exec(filter.slice(start));
  const end = word ? start + word[0].length : Math.min(start + 1, filter.length);
  return { start, end };
}
