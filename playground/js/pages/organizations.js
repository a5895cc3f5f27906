// Organizations: the groups companies belong to.

import { h, replace } from '../dom.js';
import { request } from '../graphql.js';
import { PAGE_SIZE, Pager, enumBadge, errorState, loading, pageHeader, table, time } from '../ui.js';

export const title = 'Organizations';

export function render(container) {
  const results = h('div', { class: 'results', 'aria-live': 'polite' });
  const pager = new Pager((after) => load(after));
  const load = async (after = null) => {
    replace(results, loading('Loading organizations…'));
    try {
      const { organizations } = await request('Organizations', { first: PAGE_SIZE, after });
      const rows = organizations.edges.map((e) => e.node);
      replace(results,
        table([
          { label: 'Organization', render: (o) => h('a', { class: 'row-link', href: `/organizations/${encodeURIComponent(o.id)}`, text: o.name }) },
          { label: 'Billing email', render: (o) => o.billingEmail ?? '—' },
          { label: 'Status', render: (o) => enumBadge(o.status) },
          { label: 'Updated', render: (o) => time(o.updatedAt) },
        ], rows, { caption: 'Organizations', empty: 'No organizations yet.' }),
        pager.render(organizations, rows.length));
    } catch (error) {
      replace(results, errorState(error));
    }
  };
  container.append(
    pageHeader('Organizations', { subtitle: 'Customer organizations and the companies they hold.' }),
    h('section', { class: 'card card-flush' }, results));
  load();
}
