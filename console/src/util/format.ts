/** How numbers, bytes, protocols and times read in every view. */

const PROTOCOLS: Record<number, string> = { 1: 'ICMP', 6: 'TCP', 17: 'UDP', 58: 'ICMPv6', 132: 'SCTP' };

/** `6` -> `TCP`; unknown numbers stay numbers. */
export function protoName(proto: unknown): string {
  if (typeof proto !== 'number') return proto === undefined || proto === null ? '' : String(proto);
  return PROTOCOLS[proto] ?? String(proto);
}

const grouped = new Intl.NumberFormat(undefined, { maximumFractionDigits: 0 });
const oneDecimal = new Intl.NumberFormat(undefined, { maximumFractionDigits: 1 });

/** A count with thousands separators: `12,345`. */
export function formatCount(n: unknown): string {
  return typeof n === 'number' && Number.isFinite(n) ? grouped.format(n) : '';
}

const BYTE_UNITS = ['B', 'KB', 'MB', 'GB', 'TB', 'PB'];

/** Bytes in decimal units, as network tools count them: `960 B`, `1.2 KB`, `3.4 MB`. */
export function formatBytes(n: unknown): string {
  if (typeof n !== 'number' || !Number.isFinite(n)) return '';
  let value = n;
  let unit = 0;
  while (Math.abs(value) >= 1000 && unit < BYTE_UNITS.length - 1) {
    value /= 1000;
    unit += 1;
  }
  return `${unit === 0 ? grouped.format(value) : oneDecimal.format(value)} ${BYTE_UNITS[unit]}`;
}

export function formatRate(bytesPerSecond: number): string {
  return `${formatBytes(bytesPerSecond)}/s`;
}

/** Nanoseconds as the most readable unit: `850 µs`, `1.2 ms`, `2.5 s`. */
export function formatNanos(ns: unknown): string {
  if (typeof ns !== 'number' || !Number.isFinite(ns)) return '';
  if (ns < 1_000) return `${grouped.format(ns)} ns`;
  if (ns < 1_000_000) return `${oneDecimal.format(ns / 1_000)} µs`;
  if (ns < 1_000_000_000) return `${oneDecimal.format(ns / 1_000_000)} ms`;
  return `${oneDecimal.format(ns / 1_000_000_000)} s`;
}

const pad = (n: number, width = 2): string => String(n).padStart(width, '0');

/** Local date and time, `2024-05-01 14:03:07.250`: sortable by eye and unambiguous across locales. */
export function formatDateTime(ms: unknown): string {
  if (typeof ms !== 'number' || !Number.isFinite(ms)) return '';
  const d = new Date(ms);
  return (
    `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`
  );
}

/** Local time only when `ms` is today, date and time otherwise: what a table column needs. */
export function formatTimeShort(ms: unknown, now = Date.now()): string {
  if (typeof ms !== 'number' || !Number.isFinite(ms)) return '';
  const full = formatDateTime(ms);
  const sameDay = new Date(ms).toDateString() === new Date(now).toDateString();
  return sameDay ? full.slice(11, 19) : full.slice(0, 19);
}

/** `HH:MM` for chart axes. */
export function formatClock(ms: number): string {
  const d = new Date(ms);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/**
 * A drop cause without its namespace prefix (`SKB_DROP_REASON_NO_SOCKET` -> `NO_SOCKET`,
 * `NETWARDEN_NETWORK_POLICY_DENIED` -> `NETWORK_POLICY_DENIED`); tables show this, titles the full name.
 */
export function shortDropCause(cause: string): string {
  return cause.replace(/^(SKB_DROP_REASON_|NETWARDEN_)/, '');
}
