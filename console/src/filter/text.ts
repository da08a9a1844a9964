/**
 * Building filter text from clicks: a value from the details panel, a topology node, a quick
 * filter chip. Pure string functions, so what a click adds is predictable and easy to read back.
 */
import type { FieldKind } from '../api/types';

/** A double-quoted string literal of the query language. */
export function quote(value: string): string {
  return `"${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/** `Field=value`, quoting text; numbers and addresses (incl. CIDRs) go bare. */
export function equals(field: string, value: string | number, kind: FieldKind = 'text'): string {
  const bare = typeof value === 'number' || kind === 'number' || kind === 'addr';
  return `${field}=${bare ? String(value) : quote(String(value))}`;
}

/** `Field=~"text"`: matches when `text` occurs in the field (for NetworkEvents: in a message). */
export function matches(field: string, value: string): string {
  return `${field}=~${quote(value)}`;
}

/** Whether the whole text is one parenthesised group: `(a OR b)`, not `(a) OR (b)`. */
function wrapped(filter: string): boolean {
  if (!filter.startsWith('(')) return false;
  let depth = 0;
  let inString = false;
  for (let i = 0; i < filter.length; i += 1) {
    const ch = filter[i];
    if (inString) {
      if (ch === '\\') i += 1;
      else if (ch === '"') inString = false;
    } else if (ch === '"') inString = true;
    else if (ch === '(') depth += 1;
    else if (ch === ')') {
      depth -= 1;
      if (depth === 0) return i === filter.length - 1;
    }
  }
  return false;
}

function needsParens(filter: string): boolean {
  // AND binds tighter than OR: an OR inside a part must not leak into the conjunction.
  return /\bOR\b/i.test(filter) && !wrapped(filter);
}

/** The conjunction of the non-empty parts, parenthesising the ones that contain OR. */
export function and(...parts: string[]): string {
  const present = parts.map((p) => p.trim()).filter((p) => p !== '');
  if (present.length === 1) return present[0];
  return present.map((p) => (needsParens(p) ? `(${p})` : p)).join(' AND ');
}

/** The disjunction of the non-empty parts. */
export function or(...parts: string[]): string {
  const present = parts.map((p) => p.trim()).filter((p) => p !== '');
  if (present.length <= 1) return present[0] ?? '';
  return present.map((p) => (/\bAND\b/i.test(p) && !wrapped(p) ? `(${p})` : p)).join(' OR ');
}

/** Whether `clause` is one of the top-level AND-ed parts of `filter` (as `and` wrote it). */
export function hasClause(filter: string, clause: string): boolean {
  const f = filter.trim();
  return (
    f === clause ||
    f.startsWith(`${clause} AND `) ||
    f.endsWith(` AND ${clause}`) ||
    f.includes(` AND ${clause} AND `)
  );
}

/** Adds `clause` with AND, or takes it out again when it is already there (quick filter chips). */
export function toggleClause(filter: string, clause: string): string {
  const f = filter.trim();
  if (!hasClause(f, clause)) return and(f, clause);
  if (f === clause) return '';
  if (f.startsWith(`${clause} AND `)) return f.slice(clause.length + 5);
  if (f.endsWith(` AND ${clause}`)) return f.slice(0, f.length - clause.length - 5);
  return f.replace(` AND ${clause} AND `, ' AND ');
}
