// The History section of a record page, and the rows of the audit log: who changed what, when,
// before → after, and whether it was done directly or via impersonation.

import { h, replace } from './dom.js';
import { icon } from './icons.js';
import { badge, button, card, errorState, humanize, loading, time } from './ui.js';

function person(user) {
  if (!user) return h('span', { class: 'muted', text: 'System' });
  return h('a', { href: `/users/${encodeURIComponent(user.id)}`, text: user.name });
}

/** "Direct" or "Via impersonation by ADMIN". */
export function marker(event) {
  if (!event.viaImpersonation) return badge('Direct', 'gray');
  const label = event.impersonator ? `Via impersonation by ${event.impersonator.name}` : 'Via impersonation';
  return h('span', { class: 'badge badge-amber', title: 'An admin did this while impersonating the actor' },
    icon('eye', { size: 13 }), label);
}

function value(text, redacted) {
  if (redacted) return h('span', { class: 'change-value muted', text: 'hidden' });
  if (text === null || text === undefined || text === '') {
    return h('span', { class: 'change-value muted', text: 'empty' });
  }
  return h('span', { class: 'change-value', text });
}

export function changesList(changes) {
  if (!changes?.length) return null;
  return h('ul', { class: 'changes' }, changes.map((c) => h('li', {},
    h('code', { class: 'change-field', text: c.field }),
    c.redacted ? h('span', { class: 'muted', text: 'changed (secret, value not recorded)' }) : [
    value(c.before, c.redacted),
    h('span', { class: 'change-arrow', 'aria-label': 'changed to', text: '→' }),
    value(c.after, c.redacted)])));
}

export function eventItem(event, { showRecord = false } = {}) {
  return h('li', { class: 'event' },
    h('div', { class: 'event-head' },
      h('span', { class: 'event-action', text: humanize(event.action) }),
      showRecord && recordLink(event),
      h('span', { class: 'muted' }, 'by ', person(event.actor)),
      marker(event),
      h('span', { class: 'event-time muted' }, time(event.occurredAt))),
    event.reason && h('p', { class: 'event-reason' }, h('span', { class: 'muted', text: 'Reason: ' }), event.reason),
    changesList(event.changes));
}

const RECORD_PAGES = {
  USER: 'users', COMPANY: 'companies', ORGANIZATION: 'organizations',
  CALL_RECORDING: 'call-recordings', PLAYBOOK: 'playbooks',
};

export function recordLink(event) {
  const label = `${humanize(event.recordType)} #${event.recordId}`;
  const page = RECORD_PAGES[event.recordType];
  if (!page) return h('span', { class: 'event-record', text: label });
  return h('a', { class: 'event-record', href: `/${page}/${encodeURIComponent(event.recordId)}`, text: label });
}

/**
 * A History card. `loadPage(after)` resolves to an AuditEventConnection; "Show older" appends
 * the next page.
 */
export function historySection(loadPage, { title = 'History' } = {}) {
  const list = h('ol', { class: 'events' });
  const footer = h('div', { class: 'events-footer' });
  const body = h('div', {}, loading('Loading history…'));
  const load = async (after) => {
    try {
      const connection = await loadPage(after);
      if (!after) replace(body, connection.edges.length ? list : h('p', { class: 'muted', text: 'No changes recorded yet.' }), footer);
      connection.edges.forEach(({ node }) => list.append(eventItem(node)));
      replace(footer, connection.pageInfo.hasNextPage && button('Show older changes', {
        onClick: () => load(connection.pageInfo.endCursor),
      }));
    } catch (error) {
      replace(body, errorState(error));
    }
  };
  load(null);
  return card(title, body);
}
