/** The instants a `since`/`until` pair covers, as the server reads them. */

const UNIT_MS: Record<string, number> = { ms: 1, s: 1e3, m: 6e4, h: 36e5, d: 864e5 };

/** Epoch ms of a duration back from `now` (`15m`), an RFC 3339 time or epoch ms; null if none. */
export function resolveInstant(text: string, now: number): number | null {
  const duration = /^(\d+)(ms|s|m|h|d)$/.exec(text);
  if (duration) return now - Number(duration[1]) * UNIT_MS[duration[2]];
  if (/^\d+$/.test(text)) return Number(text);
  const parsed = Date.parse(text);
  return Number.isFinite(parsed) ? parsed : null;
}

/** How long the range is; used to pick a chart step. Unreadable input counts as one hour. */
export function rangeLengthMs(since: string, until: string, now = Date.now()): number {
  const from = resolveInstant(since, now) ?? now - 36e5;
  const to = until ? (resolveInstant(until, now) ?? now) : now;
  return Math.max(to - from, 1000);
}

const STEPS_SECONDS = [5, 10, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600, 86400];

/** The smallest round step that keeps a chart under about 60 points. */
export function chartStepSeconds(rangeMs: number): number {
  const wanted = rangeMs / 1000 / 60;
  return STEPS_SECONDS.find((step) => step >= wanted) ?? STEPS_SECONDS[STEPS_SECONDS.length - 1];
}
