/**
 * What the filter box should suggest at the caret: a field name while one is being typed, values
 * of that field after `Field=`. Pure functions over (text, caret) so the rules are easy to follow.
 */

const OPERATOR = String.raw`=~|!~|!=|>=|<=|=|>|<`;
// Field, operator, then an open quoted string or a bare word, ending at the caret.
const VALUE_BEFORE_CARET = new RegExp(
  String.raw`([A-Za-z_][A-Za-z0-9_]*)\s*(${OPERATOR})\s*(?:"((?:[^"\\]|\\.)*)|([^"\s()]*))$`,
);
const WORD_BEFORE_CARET = /(^|[\s(])([A-Za-z_][A-Za-z0-9_]*)$/;

export const KEYWORDS = ['AND', 'OR', 'NOT'];

export type CompletionContext =
  | { kind: 'field'; prefix: string; start: number; end: number }
  | { kind: 'value'; field: string; operator: string; prefix: string; start: number; end: number };

/** The token under the caret and what it is, or null when there is nothing to complete. */
export function completionContext(text: string, caret: number): CompletionContext | null {
  const before = text.slice(0, caret);
  const after = text.slice(caret);

  const value = VALUE_BEFORE_CARET.exec(before);
  if (value) {
    const quoted = value[3] !== undefined;
    const prefix = quoted ? value[3].replace(/\\(.)/g, '$1') : value[4];
    const typed = quoted ? value[3].length + 1 : value[4].length;
    const rest = quoted ? /^[^"]*"?/.exec(after) : /^[^\s()]*/.exec(after);
    return {
      kind: 'value',
      field: value[1],
      operator: value[2],
      prefix,
      start: caret - typed,
      end: caret + (rest ? rest[0].length : 0),
    };
  }

  const word = WORD_BEFORE_CARET.exec(before);
  if (word) {
    const rest = /^[A-Za-z0-9_]*/.exec(after);
    return {
      kind: 'field',
      prefix: word[2],
      start: caret - word[2].length,
      end: caret + (rest ? rest[0].length : 0),
    };
  }
  return null;
}

/** Candidates that start with the prefix first, then those that contain it; case-insensitive. */
export function rankByPrefix(candidates: readonly string[], prefix: string, limit: number): string[] {
  const p = prefix.toLowerCase();
  const starts = candidates.filter((c) => c.toLowerCase().startsWith(p));
  const contains = candidates.filter((c) => !c.toLowerCase().startsWith(p) && c.toLowerCase().includes(p));
  return [...starts, ...contains].slice(0, limit);
}

/** `text` with the context's token replaced by `insertion`, and where the caret goes. */
export function applyCompletion(
  text: string,
  context: CompletionContext,
  insertion: string,
): { text: string; caret: number } {
  const next = text.slice(0, context.start) + insertion + text.slice(context.end);
  return { text: next, caret: context.start + insertion.length };
}
