/** NetworkEvents as people read them: the message, with drops marked so they stand out. */
import type { NetworkEvent } from '../../api/types';
import { h } from '../../util/dom';

/** The event's message, or one composed from its fields when the server sent none. */
export function eventMessage(event: NetworkEvent): string {
  if (typeof event.Message === 'string' && event.Message !== '') return event.Message;
  const parts = [
    event.Action,
    event.Type && `by ${event.Type}`,
    event.Name && `${event.Name}`,
    event.Namespace && `in namespace ${event.Namespace}`,
    event.Direction && `direction ${event.Direction}`,
  ];
  return parts.filter(Boolean).join(' ') || JSON.stringify(event);
}

export function isDropEvent(event: NetworkEvent): boolean {
  return (event.Action ?? '').toLowerCase() === 'drop' || /^Dropped\b/.test(eventMessage(event));
}

/** One line per event; drops get a visible DROP tag (not only a colour) and a class for styling. */
export function eventLines(events: NetworkEvent[] | undefined): HTMLElement[] {
  return (events ?? []).map((event) => {
    const drop = isDropEvent(event);
    return h(
      'div',
      { class: drop ? 'event event-drop' : 'event', 'data-action': event.Action ?? '' },
      drop ? h('span', { class: 'tag tag-drop' }, 'DROP') : h('span', { class: 'tag' }, event.Action ?? 'event'),
      ' ',
      eventMessage(event),
    );
  });
}
