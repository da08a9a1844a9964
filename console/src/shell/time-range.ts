/**
 * The time range picker: presets (`15m` means the last 15 minutes) or a custom from/until, kept
 * in the URL as the server accepts them (durations or RFC 3339).
 */
import { type ConsoleState, TIME_PRESETS } from '../state/state';
import type { UrlStore } from '../state/store';
import { h } from '../util/dom';

const CUSTOM = 'custom';
const DURATION = /^\d+(ms|s|m|h|d)$/;

const pad = (n: number) => String(n).padStart(2, '0');

/** An instant the server accepts (epoch ms or RFC 3339) as a `datetime-local` input value. */
function toLocalInput(value: string): string {
  const ms = /^\d+$/.test(value) ? Number(value) : Date.parse(value);
  if (!Number.isFinite(ms)) return '';
  const d = new Date(ms);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/** A `datetime-local` value (local time, no zone) as RFC 3339 in UTC, without milliseconds. */
function fromLocalInput(value: string): string {
  const ms = new Date(value).getTime();
  return Number.isFinite(ms) ? new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z') : '';
}

export class TimeRangePicker {
  readonly element: HTMLElement;
  private readonly select: HTMLSelectElement;
  private readonly custom: HTMLElement;
  private readonly from: HTMLInputElement;
  private readonly until: HTMLInputElement;

  constructor(private readonly store: UrlStore) {
    this.select = h('select', {
      'data-testid': 'time-range',
      'aria-label': 'Time range',
      onchange: () => this.onSelect(),
    });
    this.from = h('input', { type: 'datetime-local', 'aria-label': 'From', 'data-testid': 'time-from' });
    this.until = h('input', { type: 'datetime-local', 'aria-label': 'Until (empty: now)', 'data-testid': 'time-until' });
    this.custom = h(
      'form',
      {
        class: 'custom-range',
        hidden: true,
        onsubmit: (e: SubmitEvent) => {
          e.preventDefault();
          this.applyCustom();
        },
      },
      h('label', null, 'From ', this.from),
      h('label', null, 'until ', this.until),
      h('button', { type: 'submit', 'data-testid': 'time-apply' }, 'Apply'),
    );
    this.element = h('div', { class: 'time-range' }, h('label', null, 'Range ', this.select), this.custom);
  }

  sync(state: ConsoleState): void {
    const preset = state.until === '' && DURATION.test(state.since) ? state.since : null;
    const options = [...TIME_PRESETS] as string[];
    // A duration typed into the URL (`2d`) gets its own entry rather than showing as custom.
    if (preset && !options.includes(preset)) options.push(preset);
    this.select.replaceChildren(
      ...options.map((value) => h('option', { value }, `Last ${value}`)),
      h('option', { value: CUSTOM }, 'Custom…'),
    );
    this.select.value = preset ?? CUSTOM;
    this.custom.hidden = preset !== null;
    if (!preset) {
      this.from.value = toLocalInput(state.since);
      this.until.value = state.until ? toLocalInput(state.until) : '';
    }
  }

  private onSelect(): void {
    if (this.select.value !== CUSTOM) {
      this.store.update({ since: this.select.value, until: '' });
      return;
    }
    // Start the custom range from what the preset covered, so the user only adjusts it.
    const now = Date.now();
    const current = this.store.state.since;
    const match = /^(\d+)(ms|s|m|h|d)$/.exec(current);
    const unitMs: Record<string, number> = { ms: 1, s: 1e3, m: 6e4, h: 36e5, d: 864e5 };
    const fromMs = match ? now - Number(match[1]) * unitMs[match[2]] : now - 36e5;
    this.from.value = toLocalInput(String(fromMs));
    this.until.value = '';
    this.custom.hidden = false;
    this.from.focus();
  }

  private applyCustom(): void {
    const since = fromLocalInput(this.from.value);
    if (!since) {
      this.from.focus();
      return;
    }
    this.store.update({ since, until: this.until.value ? fromLocalInput(this.until.value) : '' });
  }
}
