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

/** A changed value; an id the API could name (and the viewer may see) reads as the name, the id kept beside it. */
function value(text, label = null) {
  if (text === null || text === undefined || text === '') {
    return h('span', { class: 'change-value muted', text: 'empty' });
  }
  if (label) {
    return h('span', { class: 'change-value', title: `id ${text}` }, label, h('span', { class: 'muted small', text: ` #${text}` }));
  }
  return h('span', { class: 'change-value', text });
}

/** Whether `field` matches an audit field filter: exact, or a prefix ending in `*`. */
export function fieldMatches(filter, field) {
  return filter.endsWith('*') ? field.startsWith(filter.slice(0, -1)) : field === filter;
}

/** The changed fields; with `field` (a filter), only those it matches, and how many others. */
export function changesList(all, field = null) {
  if (!all?.length) return null;
  const changes = field ? all.filter((c) => fieldMatches(field, c.field)) : all;
  const others = all.length - changes.length;
  return h('ul', { class: 'changes' },
    changes.map((c) => h('li', {},
      h('code', { class: 'change-field', text: c.field }),
      c.redacted ? h('span', { class: 'muted', text: 'changed (secret, value not recorded)' }) : [
        value(c.before, c.beforeLabel),
        h('span', { class: 'change-arrow', 'aria-label': 'changed to', text: '→' }),
        value(c.after, c.afterLabel)])),
    others > 0 && h('li', { class: 'muted small', text: `and ${others} other field${others === 1 ? '' : 's'}` }));
}

/** Why an impersonation ended (the `cause` of IMPERSONATION_STOPPED), in words. */
const END_CAUSES = {
  STOPPED: 'stopped',
  EXPIRED: 'expired',
  IDLE: 'idle too long',
  SIGNED_OUT: 'admin signed out',
  REPLACED: 'admin became another user',
  ADMIN_DISCARDED: 'admin deactivated',
  USER_DISCARDED: 'user deactivated',
  USER_PROMOTED: 'user became an admin',
  ADMIN_DEMOTED: 'admin no longer an admin',
  SESSION_REVOKED: 'session signed out',
};

/** What the event reads as: "Impersonation ended: expired" for an impersonation's end. */
export function actionLabel(event) {
  if (event.action !== 'IMPERSONATION_STOPPED') return humanize(event.action);
  const cause = event.changes?.find((c) => c.field === 'cause')?.after;
  if (!cause) return 'Impersonation ended';
  return `Impersonation ended: ${END_CAUSES[cause] ?? humanize(cause).toLowerCase()}`;
}

/** An impersonation's end: when it ended, if earlier than the event (an expiry the sweep wrote). */
function endedAt(event) {
  const at = event.changes?.find((c) => c.field === 'endedAt')?.after;
  if (!at || Math.abs(Date.parse(at) - Date.parse(event.occurredAt)) < 1000) return null;
  return h('p', { class: 'event-reason' }, h('span', { class: 'muted', text: 'Ended: ' }), time(at));
}

export function eventItem(event, { showRecord = false, field = null } = {}) {
  const ended = event.action === 'IMPERSONATION_STOPPED';
  return h('li', { class: 'event' },
    h('div', { class: 'event-head' },
      h('span', { class: 'event-action', text: actionLabel(event) }),
      showRecord && recordLink(event),
      // A failed sign-in is someone's attempt on the account, not the account owner's act.
      event.action === 'SIGN_IN_FAILED'
        ? h('span', { class: 'muted', text: 'attempt on this account' })
        : h('span', { class: 'muted' }, 'by ', person(event.actor)),
      marker(event),
      h('span', { class: 'event-time muted' }, time(event.occurredAt))),
    event.reason && h('p', { class: 'event-reason' }, h('span', { class: 'muted', text: 'Reason: ' }), event.reason),
    // An impersonation's end says its cause in the title and its time below, not as changes.
    ended ? endedAt(event) : changesList(event.changes, field));
}

const RECORD_PAGES = {
  USER: 'users', COMPANY: 'companies', ORGANIZATION: 'organizations',
  CALL_RECORDING: 'call-recordings', PLAYBOOK: 'playbooks',
};

export function recordLink(event) {
  const label = event.recordLabel
    ? `${humanize(event.recordType)} ${event.recordLabel}`
    : `${humanize(event.recordType)} #${event.recordId}`;
  const title = `${humanize(event.recordType)} #${event.recordId}`;
  const page = RECORD_PAGES[event.recordType];
  if (!page) return h('span', { class: 'event-record', title, text: label });
  return h('a', { class: 'event-record', title, href: `/${page}/${encodeURIComponent(event.recordId)}`, text: label });
}

/**
 * A History card. `loadPage(after)` resolves to an AuditEventConnection; "Show older" appends
 * the next page. `record: { type, id }` is the record whose History it is.
 */
export function historySection(loadPage, { title = 'History', record = null } = {}) {
  // A record's History also holds events of related records (a user's memberships): those name
  // their record.
  const other = (event) => !record || event.recordType !== record.type || event.recordId !== record.id;
  const list = h('ol', { class: 'events' });
  const footer = h('div', { class: 'events-footer' });
  const body = h('div', {}, loading('Loading history…'));
  const load = async (after) => {
    try {
      const connection = await loadPage(after);
      if (!after) replace(body, connection.edges.length ? list : h('p', { class: 'muted', text: 'No changes recorded yet.' }), footer);
      connection.edges.forEach(({ node }) => list.append(eventItem(node, { showRecord: other(node) })));
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
