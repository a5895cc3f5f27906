// The audit log (admins): every audited change, filtered by record type, actor, field, date
// range and impersonation.

import { h, replace } from '../dom.js';
import { request } from '../graphql.js';
import { eventItem } from '../history.js';
import { setQuery } from '../router.js';
import { PAGE_SIZE, Pager, emptyState, errorState, field, humanize, loading, pageHeader } from '../ui.js';

export const title = 'Audit log';

const RECORD_TYPES = ['USER', 'ORGANIZATION', 'COMPANY', 'TEAM', 'COMPANY_MEMBERSHIP', 'TEAM_MEMBERSHIP',
  'INBOUND_NUMBER', 'CALL_RECORDING', 'PLAYBOOK'];

/** A date input's day as the start (or end) of that day in the viewer's time zone, in UTC. */
function dayBoundary(day, end) {
  if (!day) return null;
  const date = new Date(`${day}T00:00:00`);
  if (end) date.setDate(date.getDate() + 1);
  return date.toISOString();
}

export function render(container, { query }) {
  const filters = {
    recordType: query.get('recordType') ?? '',
    actorId: query.get('actorId') ?? '',
    field: query.get('field') ?? '',
    from: query.get('from') ?? '',
    to: query.get('to') ?? '',
    viaImpersonation: query.get('viaImpersonation') === 'true',
  };
  const results = h('div', { class: 'results', 'aria-live': 'polite' });
  const pager = new Pager((after) => load(after));

  const load = async (after = null) => {
    setQuery(filters);
    replace(results, loading('Loading audit events…'));
    try {
      const filter = {
        recordType: filters.recordType || null,
        actorId: filters.actorId || null,
        field: filters.field.trim() || null,
        from: dayBoundary(filters.from, false),
        to: dayBoundary(filters.to, true),
        viaImpersonation: filters.viaImpersonation ? true : null,
      };
      const { auditEvents } = await request('AuditEvents', { filter, first: PAGE_SIZE, after });
      const events = auditEvents.edges.map((e) => e.node);
      replace(results,
        events.length
          ? h('ol', { class: 'events events-log' }, events.map((e) => eventItem(e, { showRecord: true, field: filter.field })))
          : emptyState('No audit events match these filters.'),
        pager.render(auditEvents, events.length));
    } catch (error) {
      replace(results, errorState(error));
    }
  };

  const actor = field({ label: 'Actor', name: 'actorId', type: 'select', value: filters.actorId, options: [['', 'Anyone']] });
  const form = h('form', { class: 'filters', role: 'search', 'aria-label': 'Filter audit events' },
    field({ label: 'Record type', name: 'recordType', type: 'select', value: filters.recordType,
      options: [['', 'Any record'], ...RECORD_TYPES.map((t) => [t, humanize(t)])] }),
    actor,
    field({ label: 'Field', name: 'field', value: filters.field, placeholder: 'billing*' }),
    field({ label: 'From', name: 'from', type: 'date', value: filters.from }),
    field({ label: 'To', name: 'to', type: 'date', value: filters.to }),
    field({ label: 'Via impersonation only', name: 'viaImpersonation', type: 'checkbox', value: filters.viaImpersonation }));
  request('AuditActorOptions').then(({ users }) => {
    actor.querySelector('select').append(...users.edges.map(({ node: u }) =>
      h('option', { value: u.id, selected: u.id === filters.actorId }, `${u.name} (${u.email})`)));
  }).catch(() => { actor.querySelector('select').disabled = true; });

  let debounce = null;
  form.addEventListener('input', (event) => {
    const { name, type, checked, value } = event.target;
    if (!(name in filters)) return;
    filters[name] = type === 'checkbox' ? checked : value;
    clearTimeout(debounce);
    debounce = setTimeout(() => { pager.reset(); load(); }, name === 'field' ? 400 : 0);
  });
  form.addEventListener('submit', (e) => e.preventDefault());

  container.append(
    pageHeader('Audit log', { subtitle: 'Who changed what, when — the source of truth for disputes. A field ending in * matches a prefix.' }),
    h('section', { class: 'card card-flush' }, form, results));
  load();
}
