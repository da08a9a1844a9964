// A small implementation of the flow query language, enough for the console to be developed and
// tested without the netwarden server. The server's parser is the reference; this one follows it
// for the shapes the console sends: Field OP value, AND/OR/NOT, parentheses; K8S_X matches
// either end (SrcK8S_X or DstK8S_X); addresses accept CIDRs; NetworkEvents matches messages.
// Errors carry the same shape as the server's: {error: 'at N ("tok"): ...', position: N}.

const OPERATORS = ['=~', '!~', '!=', '>=', '<=', '=', '>', '<'];
const KEYWORDS = new Set(['AND', 'OR', 'NOT']);

export class FilterError extends Error {
  constructor(position, token, message) {
    super(`at ${position} (${JSON.stringify(token)}): ${message}`);
    this.position = position;
  }
}

function tokenize(text) {
  const tokens = [];
  let i = 0;
  while (i < text.length) {
    const ch = text[i];
    if (/\s/.test(ch)) {
      i += 1;
    } else if (ch === '(' || ch === ')') {
      tokens.push({ type: ch, text: ch, at: i });
      i += 1;
    } else if (ch === '"') {
      let value = '';
      let j = i + 1;
      for (; j < text.length && text[j] !== '"'; j += 1) {
        if (text[j] === '\\' && j + 1 < text.length) j += 1;
        value += text[j];
      }
      if (j >= text.length) throw new FilterError(i, text.slice(i), 'unterminated string');
      tokens.push({ type: 'string', text: text.slice(i, j + 1), value, at: i });
      i = j + 1;
    } else {
      const op = OPERATORS.find((o) => text.startsWith(o, i));
      if (op) {
        tokens.push({ type: 'op', text: op, at: i });
        i += op.length;
      } else {
        const word = /^[^\s()"=!<>~]+/.exec(text.slice(i));
        if (!word) throw new FilterError(i, ch, 'unexpected character');
        const type = KEYWORDS.has(word[0].toUpperCase()) ? word[0].toUpperCase() : 'word';
        tokens.push({ type, text: word[0], value: word[0], at: i });
        i += word[0].length;
      }
    }
  }
  return tokens;
}

function distance(a, b) {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i += 1) {
    let diagonal = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j += 1) {
      const above = row[j];
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] === b[j - 1] ? 0 : 1));
      diagonal = above;
    }
  }
  return row[b.length];
}

/** Parses `text` into a predicate over flow records; throws FilterError. */
export function compileFilter(text, fields) {
  const known = new Map(fields.map((f) => [f.name, f.kind]));
  const tokens = tokenize(text);
  let pos = 0;
  const peek = () => tokens[pos];
  const end = () => new FilterError(text.length, '', 'unexpected end of filter');

  function orExpr() {
    let left = andExpr();
    while (peek()?.type === 'OR') {
      pos += 1;
      const right = andExpr();
      const l = left;
      left = (f) => l(f) || right(f);
    }
    return left;
  }
  function andExpr() {
    let left = notExpr();
    while (peek()?.type === 'AND') {
      pos += 1;
      const right = notExpr();
      const l = left;
      left = (f) => l(f) && right(f);
    }
    return left;
  }
  function notExpr() {
    if (peek()?.type === 'NOT') {
      pos += 1;
      const inner = notExpr();
      return (f) => !inner(f);
    }
    return primary();
  }
  function primary() {
    const token = peek();
    if (!token) throw end();
    if (token.type === '(') {
      pos += 1;
      const inner = orExpr();
      if (peek()?.type !== ')') throw peek() ? new FilterError(peek().at, peek().text, 'expected )') : end();
      pos += 1;
      return inner;
    }
    if (token.type !== 'word') throw new FilterError(token.at, token.text, 'expected a field name');
    if (!known.has(token.text)) {
      const best = [...known.keys()]
        .map((name) => ({ name, d: name.toLowerCase() === token.text.toLowerCase() ? 0 : distance(name, token.text) }))
        .sort((a, b) => a.d - b.d)[0];
      const hint = best && best.d <= 3 ? `; did you mean ${best.name}?` : '';
      throw new FilterError(token.at, token.text, `unknown field${hint}`);
    }
    pos += 1;
    const op = peek();
    if (!op) throw end();
    if (op.type !== 'op') throw new FilterError(op.at, op.text, 'expected an operator (= != =~ !~ > < >= <=)');
    pos += 1;
    const value = peek();
    if (!value) throw end();
    if (value.type !== 'string' && value.type !== 'word') throw new FilterError(value.at, value.text, 'expected a value');
    pos += 1;
    return comparison(token.text, known.get(token.text), op, value);
  }

  const predicate = tokens.length === 0 ? () => true : orExpr();
  if (pos < tokens.length) throw new FilterError(tokens[pos].at, tokens[pos].text, 'expected AND, OR or the end');
  return predicate;
}

function ipv4ToInt(addr) {
  const parts = addr.split('.').map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) return null;
  return ((parts[0] << 24) >>> 0) + (parts[1] << 16) + (parts[2] << 8) + parts[3];
}

function addrMatches(addr, pattern) {
  if (typeof addr !== 'string') return false;
  const [net, bits] = pattern.split('/');
  if (bits === undefined) return addr === pattern;
  const a = ipv4ToInt(addr);
  const n = ipv4ToInt(net);
  if (a === null || n === null) return addr.startsWith(net.replace(/::$/, ':')); // IPv6: prefix only
  const mask = Number(bits) === 0 ? 0 : (~0 << (32 - Number(bits))) >>> 0;
  return ((a & mask) >>> 0) === ((n & mask) >>> 0);
}

/** The values a field names on a flow: both ends for K8S_X, each message for NetworkEvents. */
export function fieldValues(flow, field) {
  if (field === 'NetworkEvents') return (flow.NetworkEvents ?? []).map((e) => e.Message ?? '');
  if (field.startsWith('K8S_') && field !== 'K8S_FlowLayer') {
    return [flow[`Src${field}`], flow[`Dst${field}`]].filter((v) => v !== undefined);
  }
  const value = flow[field];
  if (value === undefined) return [];
  return Array.isArray(value) ? value : [value];
}

function comparison(field, kind, op, valueToken) {
  const wanted = valueToken.value;
  const one = (v) => {
    switch (op.text) {
      case '=':
        if (kind === 'addr') return addrMatches(v, wanted);
        if (typeof v === 'number') return v === Number(wanted);
        return String(v) === wanted;
      case '=~':
        return String(v).toLowerCase().includes(wanted.toLowerCase());
      case '>':
        return Number(v) > Number(wanted);
      case '<':
        return Number(v) < Number(wanted);
      case '>=':
        return Number(v) >= Number(wanted);
      case '<=':
        return Number(v) <= Number(wanted);
      default:
        return false;
    }
  };
  if (op.text === '!=' || op.text === '!~') {
    const positive = comparison(field, kind, { text: op.text === '!=' ? '=' : '=~' }, valueToken);
    return (flow) => !positive(flow);
  }
  return (flow) => fieldValues(flow, field).some(one);
}
