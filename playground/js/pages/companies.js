// Companies the viewer may see, with search and paging.

import { h, replace } from '../dom.js';
import { request } from '../graphql.js';
import { setQuery } from '../router.js';
import { PAGE_SIZE, Pager, enumBadge, errorState, field, formatCents, loading, pageHeader, table } from '../ui.js';

export const title = 'Companies';

export function render(container, { query }) {
  let search = query.get('search') ?? '';
  const results = h('div', { class: 'results', 'aria-live': 'polite' });
  const pager = new Pager((after) => load(after));
  const load = async (after = null) => {
    setQuery({ search });
    replace(results, loading('Loading companies…'));
    try {
      const { companies } = await request('Companies', { search: search || null, first: PAGE_SIZE, after });
      const rows = companies.edges.map((e) => e.node);
      replace(results,
        table([
          { label: 'Company', render: (c) => h('a', { class: 'row-link', href: `/companies/${encodeURIComponent(c.id)}`, text: c.name }) },
          { label: 'Organization', render: (c) => h('a', { href: `/organizations/${encodeURIComponent(c.organization.id)}`, text: c.organization.name }) },
          { label: 'Plan', render: (c) => c.billingPlan },
          { label: 'Rate', class: 'num', render: (c) => formatCents(c.billingRateCents) },
          { label: 'Status', render: (c) => enumBadge(c.status) },
        ], rows, { caption: 'Companies', empty: 'No companies match.' }),
        pager.render(companies, rows.length));
    } catch (error) {
      replace(results, errorState(error));
    }
  };
  const searchField = field({ label: 'Search', name: 'search', type: 'search', value: search, placeholder: 'Company name' });
  let debounce = null;
  searchField.addEventListener('input', (e) => {
    search = e.target.value;
    clearTimeout(debounce);
    debounce = setTimeout(() => { pager.reset(); load(); }, 300);
  });
  container.append(
    pageHeader('Companies', { subtitle: 'Call-centre customers, their members, numbers, recordings and playbooks.' }),
    h('section', { class: 'card card-flush' },
      h('form', { class: 'filters', role: 'search', 'aria-label': 'Filter companies', onSubmit: (e) => e.preventDefault() }, searchField),
      results));
  load();
}
