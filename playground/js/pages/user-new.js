// New user: name, email, role and company memberships (with teams). The user receives an
// invitation email.

import { h, replace } from '../dom.js';
import { request } from '../graphql.js';
import { navigate } from '../router.js';
import {
  ROLE_OPTIONS, button, card, field, handleSubmit, pageHeader, toast, whenServed,
} from '../ui.js';

export const title = 'New user';

export function render(container) {
  let companies = [];
  const memberships = h('div', { class: 'memberships' });
  const noCompanies = h('p', { class: 'muted', text: 'No company memberships yet.' });

  const membershipRow = () => {
    const company = field({ label: 'Company', name: 'membershipCompany', type: 'select', required: true,
      options: [['', 'Choose a company'], ...companies.map((c) => [c.id, c.name])] });
    const role = field({ label: 'Role in company', name: 'membershipRole', type: 'select', value: 'CUSTOMER', options: ROLE_OPTIONS.slice(1) });
    const teams = h('fieldset', { class: 'team-choices', hidden: true }, h('legend', { text: 'Teams' }));
    company.querySelector('select').addEventListener('change', (e) => {
      const chosen = companies.find((c) => c.id === e.target.value);
      replace(teams, h('legend', { text: 'Teams' }),
        (chosen?.teams ?? []).map((t) => field({ label: t.name, name: `team:${t.id}`, type: 'checkbox' })));
      teams.hidden = !chosen?.teams.length;
    });
    const row = h('div', { class: 'membership-row' }, company, role,
      button('Remove', { kind: 'link', onClick: () => { row.remove(); noCompanies.hidden = memberships.children.length > 0; } }),
      teams);
    return row;
  };

  const addMembership = button('+ Add company membership', { kind: 'secondary' });
  addMembership.addEventListener('click', () => {
    memberships.append(membershipRow());
    noCompanies.hidden = true;
    memberships.lastElementChild.querySelector('select').focus();
  });

  const form = h('form', { class: 'form form-wide' },
    h('fieldset', { class: 'plain' },
      h('div', { class: 'grid-2' },
        field({ label: 'Name', name: 'name', required: true, autocomplete: 'off' }),
        field({ label: 'Email', name: 'email', type: 'email', required: true, autocomplete: 'off' })),
      field({ label: 'Role', name: 'role', type: 'select', value: 'CUSTOMER', options: ROLE_OPTIONS,
        hint: 'Admins manage the whole platform; supervisors their companies; customers see their own companies.' }),
      h('h3', { class: 'form-section', text: 'Company memberships' }),
      noCompanies, memberships, addMembership,
      h('div', { class: 'form-actions' },
        h('a', { class: 'btn btn-secondary', href: '/users' }, 'Cancel'),
        button('Create user and send invitation', { kind: 'primary', type: 'submit' }))));

  handleSubmit(form, async ({ name, email, role }) => {
    const rows = [...memberships.querySelectorAll('.membership-row')];
    const input = {
      name: name.trim(),
      email: email.trim(),
      role,
      memberships: rows.map((row) => ({
        companyId: row.querySelector('[name=membershipCompany]').value,
        role: row.querySelector('[name=membershipRole]').value,
      })),
      teamIds: [...form.querySelectorAll('[name^="team:"]:checked')].map((el) => el.name.slice(5)),
    };
    const { createUser } = await request('CreateUser', { input });
    toast(`Invitation sent to ${createUser.email}.`);
    await navigate(`/users/${encodeURIComponent(createUser.id)}`);
  });

  request('CompanyOptions')
    .then(({ companies: connection }) => { companies = connection.edges.map((e) => e.node); })
    .catch(() => { addMembership.disabled = true; });

  container.append(
    pageHeader('New user', {
      subtitle: 'They receive an invitation email and choose their own password.',
      back: { href: '/users', label: 'Users' },
    }),
    card(null, whenServed(['CreateUser'], () => form)));
}
