/**
 * The filter box shared by the flows, topology and overview tabs: the query text with completion
 * of field names and values, quick filter chips, and the server's error shown under the box with
 * the offending token marked (and selected in the box, so typing replaces it).
 */
import { ApiError, api, isAbort } from '../api/client';
import type { ConsoleState } from '../state/state';
import type { UrlStore } from '../state/store';
import { h, replaceChildren } from '../util/dom';
import { LatestRequest } from '../util/latest';
import { KEYWORDS, applyCompletion, completionContext, rankByPrefix, type CompletionContext } from './completion';
import { locateErrorToken } from './error-token';
import type { FieldCatalog } from './fields';
import { hasClause, quote, toggleClause } from './text';

interface QuickFilter {
  label: string;
  clause: string;
  description: string;
}

const QUICK_FILTERS: QuickFilter[] = [
  { label: 'Policy drops', clause: 'NetworkEvents=~"Dropped"', description: 'flows a network policy dropped' },
  { label: 'Kernel drops', clause: 'PktDropPackets>0', description: 'flows with packets the kernel dropped' },
  { label: 'TCP', clause: 'Proto=6', description: 'TCP flows' },
  { label: 'UDP', clause: 'Proto=17', description: 'UDP flows' },
  { label: 'DNS', clause: 'DstPort=53', description: 'DNS queries' },
];

const MAX_SUGGESTIONS = 12;
const VALUE_DEBOUNCE_MS = 150;

interface Suggestion {
  label: string;
  /** What replaces the token under the caret. */
  insert: string;
  /** After a field name, offer its values right away. */
  continues: boolean;
}

export class FilterBar {
  readonly element: HTMLElement;
  private readonly input: HTMLInputElement;
  private readonly listbox: HTMLUListElement;
  private readonly errorBox: HTMLElement;
  private readonly chips: HTMLButtonElement[];
  private suggestions: Suggestion[] = [];
  private context: CompletionContext | null = null;
  private active = -1;
  /** The field whose values the list shows (null: field names). */
  private valuesOf: string | null = null;
  private readonly valueRequest = new LatestRequest();
  private valueTimer: number | undefined;

  constructor(
    private readonly store: UrlStore,
    private readonly catalog: FieldCatalog,
    /** Enter on an unchanged filter: the caller reloads instead. */
    private readonly reload: () => void,
  ) {
    this.input = h('input', {
      type: 'text',
      class: 'filter-input',
      'data-testid': 'filter-input',
      role: 'combobox',
      'aria-label': 'Flow filter',
      'aria-autocomplete': 'list',
      'aria-expanded': 'false',
      'aria-controls': 'filter-suggestions',
      'aria-describedby': 'filter-help',
      autocomplete: 'off',
      spellcheck: 'false',
      placeholder: 'SrcK8S_Namespace="iperf" AND DstPort=5201',
      oninput: () => this.suggest(),
      onkeydown: (e: KeyboardEvent) => this.onKey(e),
      onblur: () => window.setTimeout(() => this.close(), 100),
    });
    this.listbox = h('ul', {
      id: 'filter-suggestions',
      class: 'suggestions',
      role: 'listbox',
      'aria-label': 'Suggestions',
      hidden: true,
    });
    this.errorBox = h('div', { id: 'filter-error', class: 'filter-error', 'data-testid': 'filter-error', role: 'alert', hidden: true });
    this.chips = QUICK_FILTERS.map((chip) =>
      h(
        'button',
        {
          type: 'button',
          class: 'chip',
          'aria-pressed': 'false',
          title: `Toggle: ${chip.description} (${chip.clause})`,
          'data-testid': 'quick-filter',
          onclick: () => this.store.update({ filter: toggleClause(this.store.state.filter, chip.clause) }),
        },
        chip.label,
      ),
    );
    this.chips.forEach((button, i) => (button.dataset.clause = QUICK_FILTERS[i].clause));

    const form = h(
      'form',
      {
        class: 'filter-form',
        role: 'search',
        'aria-label': 'Flow filter',
        onsubmit: (e: SubmitEvent) => {
          e.preventDefault();
          this.apply();
        },
      },
      h('div', { class: 'filter-field' }, this.input, this.listbox),
      h('button', { type: 'submit', class: 'primary' }, 'Apply'),
      h(
        'button',
        { type: 'button', onclick: () => this.store.update({ filter: '' }), 'aria-label': 'Clear the filter' },
        'Clear',
      ),
    );
    this.element = h(
      'section',
      { class: 'filter-bar', 'aria-label': 'Filter' },
      form,
      this.errorBox,
      h(
        'div',
        { class: 'filter-extras' },
        h('div', { class: 'chips', role: 'group', 'aria-label': 'Quick filters' }, this.chips),
        h(
          'p',
          { id: 'filter-help', class: 'hint' },
          'AND, OR, NOT, ( ); = != =~ (contains) > <; K8S_Namespace matches either end; addresses take CIDRs. Tab completes, Enter applies.',
        ),
      ),
    );
  }

  /** Shows the applied filter; called on every state change. */
  sync(state: ConsoleState, previous: ConsoleState | null): void {
    if (!previous || previous.filter !== state.filter) {
      this.input.value = state.filter;
      this.clearError();
    }
    for (const chip of this.chips) {
      chip.setAttribute('aria-pressed', String(hasClause(state.filter, chip.dataset.clause ?? '')));
    }
  }

  /** The server rejected the applied filter: say why and mark where. */
  showError(error: ApiError): void {
    const filter = this.store.state.filter;
    const range = locateErrorToken(filter, error.message, error.position);
    const parts: (Node | string)[] = [h('span', { class: 'filter-error-message' }, error.message)];
    if (range) {
      const token = filter.slice(range.start, range.end);
      parts.push(
        h(
          'code',
          { class: 'filter-error-context' },
          filter.slice(0, range.start),
          h(
            'mark',
            { 'data-testid': 'filter-error-token', class: token ? '' : 'missing', title: 'here' },
            token || ' ',
          ),
          filter.slice(range.end),
        ),
      );
      if (document.activeElement === this.input && this.input.value === filter) {
        this.input.setSelectionRange(range.start, range.end);
      }
    }
    replaceChildren(this.errorBox, parts);
    this.errorBox.hidden = false;
    this.input.setAttribute('aria-invalid', 'true');
  }

  clearError(): void {
    this.errorBox.hidden = true;
    this.errorBox.textContent = '';
    this.input.removeAttribute('aria-invalid');
  }

  setVisible(visible: boolean): void {
    this.element.hidden = !visible;
  }

  private apply(): void {
    this.close();
    const filter = this.input.value.trim();
    if (filter === this.store.state.filter) this.reload();
    else this.store.update({ filter });
  }

  private onKey(e: KeyboardEvent): void {
    const open = !this.listbox.hidden && this.suggestions.length > 0;
    switch (e.key) {
      case 'ArrowDown':
      case 'ArrowUp':
        if (!open) {
          this.suggest();
          return;
        }
        e.preventDefault();
        // The active item cycles through -1 (none: Enter applies) and each suggestion.
        this.setActive(this.stepActive(e.key === 'ArrowDown' ? 1 : -1));
        return;
      case 'Enter':
        // Enter applies the filter unless the user walked into the suggestion list.
        if (open && this.active >= 0) {
          e.preventDefault();
          this.accept(this.active);
        }
        return;
      case 'Tab':
        if (open) {
          e.preventDefault();
          this.accept(Math.max(this.active, 0));
        }
        return;
      case 'Escape':
        if (open) {
          e.preventDefault();
          this.close();
        }
        return;
      default:
        return;
    }
  }

  private suggest(): void {
    window.clearTimeout(this.valueTimer);
    const caret = this.input.selectionStart ?? this.input.value.length;
    const context = completionContext(this.input.value, caret);
    this.context = context;
    if (!context) {
      this.close();
      return;
    }
    if (context.kind === 'field') {
      const names = rankByPrefix([...this.catalog.names(), ...KEYWORDS], context.prefix, MAX_SUGGESTIONS);
      const done = names.length === 1 && names[0] === context.prefix;
      this.show(
        done
          ? []
          : names.map((name) =>
              KEYWORDS.includes(name)
                ? { label: name, insert: `${name} `, continues: false }
                : this.catalog.kindOf(name) === 'events'
                  ? { label: name, insert: `${name}=~"`, continues: true }
                  : { label: name, insert: `${name}=`, continues: true },
            ),
      );
      return;
    }
    if (!this.catalog.filterable(context.field) && this.catalog.kindOf(context.field) !== 'events') {
      this.close();
      return;
    }
    // Narrow the list on screen at once; the server's answer for the new prefix replaces it.
    if (this.valuesOf === context.field) {
      const kept = new Set(rankByPrefix(this.suggestions.map((s) => s.label), context.prefix, MAX_SUGGESTIONS));
      this.show(this.suggestions.filter((s) => kept.has(s.label)), context.field);
    }
    this.valueTimer = window.setTimeout(() => void this.suggestValues(context), VALUE_DEBOUNCE_MS);
  }

  private async suggestValues(context: Extract<CompletionContext, { kind: 'value' }>): Promise<void> {
    const { since, until } = this.store.state;
    const outcome = await this.valueRequest.run((signal) =>
      api.values(context.field, context.prefix, { since, until }, MAX_SUGGESTIONS, signal),
    );
    if (!outcome || this.context !== context) return;
    if (!outcome.ok) {
      if (!isAbort(outcome.error)) this.close();
      return;
    }
    const kind = this.catalog.kindOf(context.field);
    const quoted = kind === 'text' || kind === 'events' || context.operator.endsWith('~');
    this.show(
      outcome.value.values.map((value) => ({
        label: String(value),
        insert: quoted ? quote(String(value)) : String(value),
        continues: false,
      })),
      context.field,
    );
  }

  private show(suggestions: Suggestion[], valuesOf: string | null = null): void {
    this.suggestions = suggestions;
    this.valuesOf = valuesOf;
    this.active = -1;
    replaceChildren(
      this.listbox,
      suggestions.map((suggestion, i) =>
        h(
          'li',
          {
            id: `filter-suggestion-${i}`,
            role: 'option',
            'aria-selected': 'false',
            // mousedown, not click: the input must keep focus (its blur closes the list).
            onmousedown: (e: MouseEvent) => {
              e.preventDefault();
              this.accept(i);
            },
          },
          suggestion.label,
        ),
      ),
    );
    const open = suggestions.length > 0;
    this.listbox.hidden = !open;
    this.input.setAttribute('aria-expanded', String(open));
    this.input.removeAttribute('aria-activedescendant');
  }

  private stepActive(step: 1 | -1): number {
    const next = this.active + step;
    if (next >= this.suggestions.length) return -1;
    if (next < -1) return this.suggestions.length - 1;
    return next;
  }

  private setActive(index: number): void {
    this.active = index;
    this.listbox.querySelectorAll('li').forEach((li, i) => li.setAttribute('aria-selected', String(i === this.active)));
    if (this.active >= 0) {
      this.input.setAttribute('aria-activedescendant', `filter-suggestion-${this.active}`);
      this.listbox.children[this.active]?.scrollIntoView({ block: 'nearest' });
    } else {
      this.input.removeAttribute('aria-activedescendant');
    }
  }

  private accept(index: number): void {
    const suggestion = this.suggestions[index];
    if (!suggestion || !this.context) return;
    const { text, caret } = applyCompletion(this.input.value, this.context, suggestion.insert);
    this.input.value = text;
    this.input.focus();
    this.input.setSelectionRange(caret, caret);
    this.close();
    if (suggestion.continues) this.suggest();
  }

  private close(): void {
    window.clearTimeout(this.valueTimer);
    this.valueRequest.cancel();
    this.suggestions = [];
    this.valuesOf = null;
    this.active = -1;
    this.listbox.hidden = true;
    this.input.setAttribute('aria-expanded', 'false');
    this.input.removeAttribute('aria-activedescendant');
  }
}
