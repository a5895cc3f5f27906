// A company: billing details, members, teams, inbound numbers, call recordings, playbooks and
// History (which includes membership changes).

import { h, replace } from '../dom.js';
import { request } from '../graphql.js';
import { historySection } from '../history.js';
import {
  badge, busy, button, card, confirmDialog, details, enumBadge, errorState, field, formatCents,
  formatDuration, handleSubmit, loading, pageHeader, table, time, toast,
} from '../ui.js';

export const title = 'Company';

export function render(container, { params, viewer }) {
  const show = (company) => {
    document.title = `${company.name} · Portal admin`;
    replace(container, ...view(company, viewer, () => reload()));
  };
  const reload = () => request('Company', { id: params.id })
    .then(({ company }) => {
      if (!company) throw Object.assign(new Error('This company does not exist or is not visible to you.'), { code: 'NOT_FOUND' });
      show(company);
    })
    .catch((error) => replace(container, pageHeader('Company', { back: { href: '/companies', label: 'Companies' } }), errorState(error)));
  container.append(loading('Loading company…'));
  reload();
}

function view(company, viewer, reload) {
  // Inbound numbers and billing are admin-only in the API (and refused while impersonating,
  // when the viewer's role is the user's): only admins are offered them.
  const isAdmin = viewer.user.role === 'ADMIN';
  return [
    pageHeader(company.name, {
      subtitle: h('span', { class: 'header-badges' },
        h('a', { href: `/organizations/${encodeURIComponent(company.organization.id)}`, text: company.organization.name }),
        ' ', enumBadge(company.status)),
      back: { href: '/companies', label: 'Companies' },
    }),
    h('div', { class: 'grid-main' },
      h('div', { class: 'stack' },
        card(`Members (${company.members.totalCount})`,
          table([
            { label: 'Name', render: (m) => h('div', { class: 'cell-user' },
              h('a', { href: `/users/${encodeURIComponent(m.user.id)}`, text: m.user.name }),
              h('span', { class: 'muted small', text: m.user.email })) },
            { label: 'Role', render: (m) => enumBadge(m.role) },
            { label: 'Status', render: (m) => enumBadge(m.user.status) },
            { label: 'Member since', render: (m) => time(m.createdAt) },
          ], company.members.edges.map((e) => e.node), { caption: 'Members', empty: 'No members yet.' })),
        numbersCard(company, isAdmin, reload),
        recordingsCard(company),
        historySection(async (after) => (await request('CompanyHistory', { id: company.id, after })).company.history, { record: { type: 'COMPANY', id: company.id } })),
      h('div', { class: 'stack' },
        card('Billing',
          details([
            ['Billing email', company.billingEmail],
            ['Plan', company.billingPlan],
            ['Rate', formatCents(company.billingRateCents)],
            ['Time zone', company.timezone],
            ['Created', time(company.createdAt)],
            ['Updated', time(company.updatedAt)],
          ]),
          isAdmin && billingForm(company, reload)),
        card('Teams', company.teams.length
          ? h('ul', { class: 'list' }, company.teams.map((t) => h('li', { class: 'list-row' },
            h('span', { text: t.name }), h('span', { class: 'muted small', text: `${t.members.length} member${t.members.length === 1 ? '' : 's'}` }))))
          : h('p', { class: 'muted', text: 'No teams.' })),
        card('Playbooks', company.playbooks.length
          ? h('ul', { class: 'list' }, company.playbooks.map((p) => h('li', { class: 'list-row' },
            h('a', { href: `/playbooks/${encodeURIComponent(p.id)}`, text: p.title }),
            h('span', { class: 'muted small', text: `v${p.currentVersion} · ` }, time(p.updatedAt)))))
          : h('p', { class: 'muted', text: 'No playbooks.' })))),
  ];
}

function billingForm(company, reload) {
  const form = h('form', { class: 'form' },
    field({ label: 'Billing email', name: 'billingEmail', type: 'email', value: company.billingEmail ?? '' }),
    field({ label: 'Plan', name: 'billingPlan', value: company.billingPlan ?? '' }),
    field({ label: 'Rate (USD)', name: 'billingRateCents', type: 'number', value: (company.billingRateCents / 100).toFixed(2),
      required: true, inputmode: 'decimal' }),
    h('div', { class: 'form-actions' }, button('Save billing', { kind: 'primary', type: 'submit' })));
  form.querySelector('[name=billingRateCents]').setAttribute('step', '0.01');
  form.querySelector('[name=billingRateCents]').setAttribute('min', '0');
  handleSubmit(form, async ({ billingEmail, billingPlan, billingRateCents }) => {
    await request('UpdateCompany', { input: {
      id: company.id, expectedVersion: company.version, billingEmail: billingEmail.trim() || null,
      billingPlan: billingPlan.trim() || null, billingRateCents: Math.round(Number(billingRateCents) * 100),
    } });
    toast('Billing saved.');
    reload();
  });
  return h('details', { class: 'edit-details' }, h('summary', { text: 'Edit billing' }), form);
}

function numbersCard(company, canManage, reload) {
  const rows = company.inboundNumbers;
  const content = [
    table([
      { label: 'Number', render: (n) => h('code', { text: n.number }) },
      { label: 'Label', render: (n) => n.label || h('span', { class: 'muted', text: '—' }) },
      { label: 'Status', render: (n) => (n.active ? badge('Active', 'green') : h('span', {}, badge('Inactive', 'gray'), ' ', time(n.deactivatedAt, ''))) },
      { label: 'Actions', class: 'cell-actions', render: (n) => h('div', { class: 'row-actions' },
        button('History', { kind: 'link', 'aria-label': `History of ${n.number}`, onClick: () => showNumberHistory(n) }),
        canManage && n.active && button('Deactivate', { kind: 'link', 'aria-label': `Deactivate ${n.number}`,
          onClick: (e) => deactivate(n, e.currentTarget, reload) })) },
    ], rows, { caption: 'Inbound numbers', empty: 'No inbound numbers.' }),
  ];
  if (canManage) {
    const form = h('form', { class: 'inline-form' },
      field({ label: 'Number (E.164)', name: 'number', required: true, placeholder: '+14155550123', pattern: '\\+[1-9][0-9]{6,14}' }),
      field({ label: 'Label', name: 'label', placeholder: 'Main line' }),
      button('Add number', { kind: 'secondary', type: 'submit' }));
    handleSubmit(form, async ({ number, label }) => {
      await request('CreateInboundNumber', { input: { companyId: company.id, number: number.trim(), label: label.trim() || null } });
      toast(`${number} added.`);
      reload();
    });
    content.push(form);
  }
  return card('Inbound numbers', content);
}

async function deactivate(number, btn, reload) {
  const ok = await confirmDialog({
    title: `Deactivate ${number.number}?`,
    body: 'Calls to this number stop reaching the company. The number and its history are kept.',
    confirmLabel: 'Deactivate', danger: true,
  });
  if (ok === null) return;
  await busy(btn, async () => {
    await request('DeactivateInboundNumber', { input: { id: number.id } });
    toast(`${number.number} deactivated.`);
    reload();
  });
}

function showNumberHistory(number) {
  const close = button('Close', { kind: 'secondary' });
  const dialog = h('dialog', { class: 'dialog dialog-wide', 'aria-label': `History of ${number.number}` },
    h('div', { class: 'dialog-body' },
      h('h2', { text: `History of ${number.number}` }),
      historySection(async (after) => (await request('InboundNumberHistory', { id: number.id, after })).inboundNumber.history, {
        title: '', record: { type: 'INBOUND_NUMBER', id: number.id } }),
      h('div', { class: 'dialog-actions' }, close)));
  close.addEventListener('click', () => dialog.close());
  dialog.addEventListener('close', () => dialog.remove());
  document.body.append(dialog);
  dialog.showModal();
  close.focus();
}

function recordingsCard(company) {
  const body = h('div', {}, loading('Loading call recordings…'));
  const list = [];
  const load = async (after) => {
    try {
      const { company: c } = await request('CompanyRecordings', { id: company.id, after });
      list.push(...c.callRecordings.edges.map((e) => e.node));
      replace(body,
        table([
          { label: 'Started', render: (r) => h('a', { href: `/call-recordings/${encodeURIComponent(r.id)}` }, time(r.startedAt)) },
          { label: 'Caller', render: (r) => h('code', { text: r.callerNumber }) },
          { label: 'Number', render: (r) => r.inboundNumber?.number ?? '—' },
          { label: 'Duration', class: 'num', render: (r) => formatDuration(r.durationSeconds) },
          { label: 'Disposition', render: (r) => h('span', {}, r.disposition ?? '—', r.flagged ? [' ', badge('Flagged', 'red')] : null) },
        ], list, { caption: 'Call recordings', empty: 'No call recordings.' }),
        c.callRecordings.pageInfo.hasNextPage && button('Show more', { onClick: () => load(c.callRecordings.pageInfo.endCursor) }));
    } catch (error) {
      replace(body, errorState(error));
    }
  };
  load(null);
  return card('Call recordings', body);
}
