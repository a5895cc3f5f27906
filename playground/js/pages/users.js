// Users: every account the viewer may see, with filters, cursor paging, New user and Become.

import { become, isImpersonating } from '../auth.js';
import { h, replace } from '../dom.js';
import { isServed, request } from '../graphql.js';
import { setQuery } from '../router.js';
import {
  PAGE_SIZE, Pager, ROLE_OPTIONS, STATUS_OPTIONS, busy, confirmDialog, enumBadge, errorState,
  field, loading, pageHeader, table, time,
} from '../ui.js';

export const title = 'Users';

/**
 * Whether to offer Become on `user` to `viewer` (the API decides in the end). `served`: whether
 * the server offers becomeUser yet (see `becomeServed`); until then there is no button.
 */
export function canBecome(viewer, user, served) {
  return served && viewer.user.role === 'ADMIN' && !isImpersonating() && user.id !== viewer.user.id
    && user.status !== 'DISCARDED';
}

export const becomeServed = () => isServed('BecomeUser');

/** Asks for the reason, then becomes `user`. */
export async function becomeWithReason(user, btn) {
  const reason = await confirmDialog({
    title: `Become ${user.name}?`,
    body: h('div', {},
      h('p', {}, 'You will see the portal exactly as ', h('strong', { text: user.name }),
        ' sees it. Everything you do is recorded as their action, marked as yours.'),
      h('p', { class: 'muted', text: 'Don’t change settings or send communications as them unless explicitly authorized.' })),
    confirmLabel: 'Become user',
    reason: { label: 'Reason', hint: 'Recorded in the audit log, e.g. the support ticket.', placeholder: 'Ticket #4711: dashboard not showing calls' },
  });
  if (reason === null) return;
  await busy(btn, () => become(user, reason));
}

function membershipsCell(user) {
  if (!user.memberships.length) return h('span', { class: 'muted', text: 'None' });
  return h('ul', { class: 'chips' }, user.memberships.map((m) => {
    const teams = user.teams.filter((t) => t.company.id === m.company.id).map((t) => t.name);
    return h('li', { class: 'chip' },
      h('a', { href: `/companies/${encodeURIComponent(m.company.id)}`, text: m.company.name }),
      teams.length > 0 && h('span', { class: 'chip-sub', text: ` · ${teams.join(', ')}` }));
  }));
}

export function render(container, { query, viewer }) {
  const filters = {
    search: query.get('search') ?? '',
    role: query.get('role') ?? '',
    status: query.get('status') ?? '',
    companyId: query.get('companyId') ?? '',
    teamId: query.get('teamId') ?? '',
  };
  const results = h('div', { class: 'results', 'aria-live': 'polite' });
  const pager = new Pager((after) => load(after));

  const load = async (after = null) => {
    setQuery(filters);
    replace(results, loading('Loading users…'));
    try {
      const filter = Object.fromEntries(Object.entries(filters).filter(([, v]) => v !== ''));
      const [{ users }, served] = await Promise.all([
        request('Users', { filter, first: PAGE_SIZE, after }), becomeServed()]);
      const rows = users.edges.map((e) => e.node);
      replace(results,
        table([
          { label: 'Name', render: (u) => h('div', { class: 'cell-user' },
            h('a', { class: 'row-link', href: `/users/${encodeURIComponent(u.id)}`, text: u.name }),
            h('span', { class: 'muted small', text: u.email })) },
          { label: 'Role', render: (u) => enumBadge(u.role) },
          { label: 'Status', render: (u) => enumBadge(u.status) },
          { label: 'Companies and teams', render: membershipsCell },
          { label: 'Last sign-in', render: (u) => time(u.lastSignInAt) },
          rows.some((u) => canBecome(viewer, u, served)) && { label: 'Actions', class: 'cell-actions',
            render: (u) => canBecome(viewer, u, served)
            && h('button', { class: 'btn btn-secondary btn-small', type: 'button',
              'aria-label': `Become ${u.name}`, onClick: (e) => becomeWithReason(u, e.currentTarget) }, 'Become') },
        ].filter(Boolean), rows, { caption: 'Users', empty: 'No users match these filters.' }),
        pager.render(users, rows.length));
    } catch (error) {
      replace(results, errorState(error));
    }
  };
  const reload = () => { pager.reset(); load(); };

  const search = field({ label: 'Search', name: 'search', type: 'search', value: filters.search, placeholder: 'Name or email' });
  const role = field({ label: 'Role', name: 'role', type: 'select', value: filters.role, options: [['', 'Any role'], ...ROLE_OPTIONS] });
  const status = field({ label: 'Status', name: 'status', type: 'select', value: filters.status, options: [['', 'Any status'], ...STATUS_OPTIONS] });
  const company = field({ label: 'Company', name: 'companyId', type: 'select', value: filters.companyId, options: [['', 'Any company']] });
  const team = field({ label: 'Team', name: 'teamId', type: 'select', value: filters.teamId, options: [['', 'Any team']] });
  const form = h('form', { class: 'filters', role: 'search', 'aria-label': 'Filter users' }, search, role, status, company, team);

  let companies = [];
  const fillTeams = () => {
    const select = team.querySelector('select');
    const chosen = companies.find((c) => c.id === filters.companyId);
    replace(select, h('option', { value: '' }, 'Any team'),
      (chosen?.teams ?? []).map((t) => h('option', { value: t.id, selected: t.id === filters.teamId }, t.name)));
    select.disabled = !chosen;
  };
  request('CompanyOptions').then(({ companies: connection }) => {
    companies = connection.edges.map((e) => e.node);
    const select = company.querySelector('select');
    select.append(...companies.map((c) => h('option', { value: c.id, selected: c.id === filters.companyId }, c.name)));
    fillTeams();
  }).catch(() => {
    company.querySelector('select').disabled = true;
    team.querySelector('select').disabled = true;
  });

  let debounce = null;
  form.addEventListener('input', (event) => {
    const { name, value } = event.target;
    if (!(name in filters)) return;
    filters[name] = value;
    if (name === 'companyId') { filters.teamId = ''; fillTeams(); }
    clearTimeout(debounce);
    debounce = setTimeout(reload, name === 'search' ? 300 : 0);
  });
  form.addEventListener('submit', (e) => { e.preventDefault(); reload(); });

  const isAdminOrSupervisor = ['ADMIN', 'SUPERVISOR'].includes(viewer.user.role);
  container.append(
    pageHeader('Users', {
      subtitle: 'Everyone with an account on the portal.',
      actions: isAdminOrSupervisor ? [h('a', { class: 'btn btn-primary', href: '/users/new' }, '+ New user')] : [],
    }),
    h('section', { class: 'card card-flush' }, form, results));
  load();
}
