// An organization: details, its companies and History.

import { h, replace } from '../dom.js';
import { request } from '../graphql.js';
import { historySection } from '../history.js';
import { card, details, enumBadge, errorState, loading, pageHeader, table, time } from '../ui.js';

export const title = 'Organization';

export function render(container, { params }) {
  container.append(loading('Loading organization…'));
  request('Organization', { id: params.id })
    .then(({ organization: o }) => {
      if (!o) throw Object.assign(new Error('This organization does not exist or is not visible to you.'), { code: 'NOT_FOUND' });
      document.title = `${o.name} · Portal admin`;
      replace(container,
        pageHeader(o.name, { subtitle: enumBadge(o.status), back: { href: '/organizations', label: 'Organizations' } }),
        h('div', { class: 'grid-main' },
          h('div', { class: 'stack' },
            card(`Companies (${o.companies.totalCount})`,
              table([
                { label: 'Company', render: (c) => h('a', { href: `/companies/${encodeURIComponent(c.id)}`, text: c.name }) },
                { label: 'Plan', render: (c) => c.billingPlan },
                { label: 'Status', render: (c) => enumBadge(c.status) },
              ], o.companies.edges.map((e) => e.node), { caption: 'Companies', empty: 'No companies yet.' })),
            historySection(async (after) => (await request('OrganizationHistory', { id: o.id, after })).organization.history, { record: { type: 'ORGANIZATION', id: o.id } })),
          h('div', { class: 'stack' },
            card('Details', details([
              ['Billing email', o.billingEmail],
              ['Created', time(o.createdAt)],
              ['Updated', time(o.updatedAt)],
            ])))));
    })
    .catch((error) => replace(container, pageHeader('Organization', { back: { href: '/organizations', label: 'Organizations' } }), errorState(error)));
}
