// Design preview of what still waits for API: impersonation (Become, the banner) and the audit
// trail (History sections, the audit log). The console is served by the real binary, but the
// browser is given the staged operations (playground/operations/next/) and canned answers for
// /graphql. It checks that those parts render without a console error and takes their
// screenshots. Everything else has a real story; delete each test here once its real story runs
// (impersonation.test.mjs, and the History checks in discard and two-factor).

import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { PHONE, assertNoConsoleErrors, launchBrowser, openPage, screenshot } from '../lib/harness.mjs';

const OPERATIONS = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../playground/operations');

const ada = { id: '1', name: 'Ada Admin', email: 'ada@example.com', role: 'ADMIN', twoFactorEnabled: false };
const northwind = { id: '10', name: 'Northwind Support' };
const contoso = { id: '11', name: 'Contoso Care' };
const at = (minutesAgo) => new Date(Date.UTC(2026, 10, 2, 15, 0) - minutesAgo * 60_000).toISOString();

const users = [
  { id: '1', name: 'Ada Admin', email: 'ada@example.com', role: 'ADMIN', status: 'ACTIVE', lastSignInAt: at(3), memberships: [], teams: [] },
  { id: '2', name: 'Grace Hopper', email: 'grace@northwind.example', role: 'SUPERVISOR', status: 'ACTIVE', lastSignInAt: at(95),
    memberships: [{ id: 'm1', role: 'SUPERVISOR', company: northwind }, { id: 'm2', role: 'CUSTOMER', company: contoso }],
    teams: [{ id: 't1', name: 'Night shift', company: { id: '10' } }] },
  { id: '3', name: 'Sam Rivera', email: 'sam@contoso.example', role: 'CUSTOMER', status: 'INVITED', lastSignInAt: null,
    memberships: [{ id: 'm3', role: 'CUSTOMER', company: contoso }], teams: [] },
  { id: '4', name: 'Bob Martin', email: 'bob@northwind.example', role: 'CUSTOMER', status: 'DISCARDED', lastSignInAt: at(60 * 24 * 9),
    memberships: [{ id: 'm4', role: 'CUSTOMER', company: northwind }], teams: [] },
].map((u) => ({ twoFactorEnabled: u.id === '2', discardedAt: u.status === 'DISCARDED' ? at(600) : null, ...u }));

const grace = { ...users[1], invitationSentAt: at(60 * 24 * 30), createdAt: at(60 * 24 * 30), version: 7 };
const page = (nodes) => ({
  totalCount: nodes.length, pageInfo: { hasNextPage: false, endCursor: null },
  edges: nodes.map((node, i) => ({ cursor: String(i), node })),
});
const events = [
  { id: 'e3', occurredAt: at(20), action: 'UPDATE', recordType: 'USER', recordId: '2', viaImpersonation: true, reason: 'Ticket 4711',
    requestId: 'r3', actor: { id: '2', name: 'Grace Hopper' }, impersonator: { id: '1', name: 'Ada Admin' },
    changes: [{ field: 'name', before: 'Grace B. Hopper', after: 'Grace Hopper', redacted: false }] },
  { id: 'e2', occurredAt: at(60 * 5), action: 'TWO_FACTOR_ENABLED', recordType: 'USER', recordId: '2', viaImpersonation: false, reason: null,
    requestId: 'r2', actor: { id: '2', name: 'Grace Hopper' }, impersonator: null,
    changes: [{ field: 'twoFactorSecret', before: null, after: null, redacted: true }] },
  { id: 'e1', occurredAt: at(60 * 24 * 30), action: 'CREATE', recordType: 'USER', recordId: '2', viaImpersonation: false, reason: null,
    requestId: 'r1', actor: { id: '1', name: 'Ada Admin' }, impersonator: null,
    changes: [{ field: 'email', before: null, after: 'grace@northwind.example', redacted: false },
      { field: 'role', before: null, after: 'SUPERVISOR', redacted: false }] },
];
const companyEvents = [
  { ...events[0], id: 'c2', action: 'UPDATE', recordType: 'COMPANY', recordId: '10',
    changes: [{ field: 'billingRateCents', before: '4500', after: '4200', redacted: false }] },
  { ...events[2], id: 'c1', action: 'CREATE', recordType: 'INBOUND_NUMBER', recordId: '31',
    changes: [{ field: 'number', before: null, after: '+14155550123', redacted: false }] },
];

function answers(impersonating) {
  const viewer = impersonating
    ? { user: { ...users[1] }, impersonator: ada, impersonation: { reason: 'Ticket 4711: dashboard not showing calls', startedAt: at(5), expiresAt: at(-55) }, sessionExpiresAt: at(-55) }
    : { user: ada, impersonator: null, impersonation: null, sessionExpiresAt: at(-600) };
  return {
    Viewer: () => ({ viewer }),
    Users: () => ({ users: page(users) }),
    CompanyOptions: () => ({ companies: page([{ ...northwind, teams: [{ id: 't1', name: 'Night shift' }] }, { ...contoso, teams: [] }]) }),
    User: () => ({ user: grace }),
    UserHistory: () => ({ user: { id: '2', history: page(events) } }),
    Company: () => ({ company: {
      ...northwind, billingEmail: 'billing@northwind.example', billingRateCents: 4200, billingPlan: 'Per seat', timezone: 'America/Chicago',
      status: 'ACTIVE', createdAt: at(60 * 24 * 90), updatedAt: at(20), version: 12, organization: { id: '20', name: 'Northwind Group' },
      teams: [{ id: 't1', name: 'Night shift', members: [{ id: '2' }] }, { id: 't2', name: 'Escalations', members: [] }],
      members: page([
        { id: 'm1', role: 'SUPERVISOR', createdAt: at(60 * 24 * 30), user: users[1] },
        { id: 'm4', role: 'CUSTOMER', createdAt: at(60 * 24 * 60), user: users[3] }]),
      inboundNumbers: [
        { id: '31', number: '+14155550123', label: 'Support line', active: true, deactivatedAt: null },
        { id: '32', number: '+14155550199', label: 'Old sales', active: false, deactivatedAt: at(60 * 24 * 3) }],
      playbooks: [{ id: '5', title: 'Billing disputes', currentVersion: 3, updatedAt: at(60 * 2) }],
    } }),
    CompanyRecordings: () => ({ company: { id: '10', callRecordings: page([
      { id: '41', callerNumber: '+13125550111', startedAt: at(45), durationSeconds: 312, disposition: 'resolved', flagged: false, inboundNumber: { id: '31', number: '+14155550123' } },
      { id: '42', callerNumber: '+13125550177', startedAt: at(130), durationSeconds: 95, disposition: 'callback', flagged: true, inboundNumber: { id: '31', number: '+14155550123' } }]) } }),
    CompanyHistory: () => ({ company: { id: '10', history: page(companyEvents) } }),
    AuditEvents: () => ({ auditEvents: page([...events, ...companyEvents]) }),
    AuditActorOptions: () => ({ users: page(users) }),
  };
}

async function preview(browser, { impersonating = false, viewport } = {}) {
  const p = await openPage(browser, { viewport });
  const served = readdirSync(OPERATIONS).filter((f) => f.endsWith('.graphql')).map((f) => `operations/${f}`);
  const staged = readdirSync(path.join(OPERATIONS, 'next')).map((f) => `operations/next/${f}`);
  await p.route('**/operations/index.json', (route) => route.fulfill({ json: [...served, ...staged] }));
  await p.route('**/operations/next/*.graphql', (route) => route.fulfill({
    contentType: 'text/plain', body: readFileSync(path.join(OPERATIONS, 'next', path.basename(new URL(route.request().url()).pathname))),
  }));
  const canned = answers(impersonating);
  await p.route('**/graphql', (route) => {
    const { operationName } = route.request().postDataJSON();
    const answer = canned[operationName];
    assert.ok(answer, `no canned answer for ${operationName}`);
    return route.fulfill({ json: { data: answer() } });
  });
  await p.addInitScript(() => sessionStorage.setItem('portal-admin.session', 'preview-token'));
  return p;
}

let browser;
before(async () => { browser = await launchBrowser(); });
after(async () => { await browser?.close(); });

test('design preview: Become dialog and a user\'s History (waits for becomeUser, history)', async () => {
  const p = await preview(browser);
  await p.goto('/users');
  await p.getByRole('row', { name: /Grace Hopper/ }).waitFor();
  await p.getByRole('button', { name: 'Become Grace Hopper' }).click();
  await p.getByRole('dialog').getByLabel('Reason').fill('Ticket 4711: dashboard not showing calls');
  await screenshot(p, 'preview-become-dialog');
  await p.getByRole('dialog').getByRole('button', { name: 'Cancel' }).click();

  await p.getByRole('link', { name: 'Grace Hopper' }).click();
  await p.getByRole('heading', { level: 1, name: 'Grace Hopper' }).waitFor();
  await p.getByText('Via impersonation by Ada Admin').waitFor();
  await p.getByText('changed (secret, value not recorded)').waitFor();
  await screenshot(p, 'preview-user-history');
  assertNoConsoleErrors(p);
});

test('design preview: company History and the audit log (waits for history, auditEvents)', async () => {
  const p = await preview(browser);
  await p.goto('/companies/10');
  await p.locator('.event', { hasText: 'billingRateCents' }).waitFor();
  await screenshot(p, 'preview-company-history');
  await p.goto('/audit?viaImpersonation=true');
  await p.locator('.event').first().waitFor();
  assert.equal(await p.getByLabel('Via impersonation only').isChecked(), true, 'the filter comes from the URL');
  await screenshot(p, 'preview-audit-log');
  assertNoConsoleErrors(p);
});

test('design preview: impersonation banner, on a laptop and a phone', async () => {
  const p = await preview(browser, { impersonating: true });
  await p.goto('/users');
  const banner = p.getByRole('region', { name: 'Impersonation' });
  await banner.waitFor();
  assert.match(await banner.textContent(), /You are impersonating Grace Hopper — Ticket 4711/);
  await p.getByRole('row', { name: /Sam Rivera/ }).waitFor();
  await p.locator('.user-menu-toggle').click();
  await p.getByRole('menuitem', { name: 'Stop impersonating' }).waitFor();
  await screenshot(p, 'preview-impersonating');

  const phone = await preview(browser, { impersonating: true, viewport: PHONE });
  await phone.goto('/users');
  await phone.getByRole('region', { name: 'Impersonation' }).waitFor();
  await phone.getByRole('row', { name: /Sam Rivera/ }).waitFor();
  await screenshot(phone, 'preview-phone-impersonating');
  assertNoConsoleErrors(p, phone);
});
