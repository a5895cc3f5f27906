// "Show me every change to billing": an admin changes a company's billing rate on its page; the
// company's History and the audit log, filtered by field `billing*` (and record type, date range),
// show who, when and before → after (only the matching fields), made directly.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  PHONE, apiSignIn, assertNoConsoleErrors, env, gql, launchBrowser, openPage, screenshot, signIn,
} from '../lib/harness.mjs';

let browser;
before(async () => { browser = await launchBrowser(); });
after(async () => { await browser?.close(); });

const today = () => new Date().toLocaleDateString('en-CA'); // YYYY-MM-DD, the browser's zone (same machine)

test('an admin changes a billing rate and finds it in the audit log by field billing*', async () => {
  const token = await apiSignIn(env.admin);
  const { createOrganization: org } = await gql(
    'mutation($input: CreateOrganizationInput!) { createOrganization(input: $input) { id } }',
    { input: { name: 'Tailspin Group' } }, token);
  const { createCompany: company } = await gql(
    'mutation($input: CreateCompanyInput!) { createCompany(input: $input) { id name } }',
    { input: { organizationId: org.id, name: 'Tailspin Toys', billingRateCents: 4500, billingPlan: 'PER_SEAT' } }, token);

  const page = await openPage(browser);
  await signIn(page, env.admin);
  await page.goto(`/companies/${company.id}`);
  await page.getByRole('heading', { level: 1, name: company.name }).waitFor();
  await page.getByText('Edit billing').click();
  await page.getByLabel('Rate (USD)').fill('42.00');
  await page.getByRole('button', { name: 'Save billing' }).click();
  await page.getByText('Billing saved.').waitFor();
  await page.locator('.details-row', { hasText: 'Rate' }).getByText('$42.00').waitFor();

  // The company's History.
  const history = page.locator('.card', { has: page.getByRole('heading', { name: 'History' }) });
  const RATE_CHANGE = /billingRateCents\s*4500\s*→\s*4200/;
  const changed = history.locator('.event', { hasText: RATE_CHANGE });
  await changed.waitFor();
  assert.match(await changed.textContent(), /^Update/);

  // The audit log: field billing*, companies, today.
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Audit log' }).click();
  await page.getByRole('heading', { level: 1, name: 'Audit log' }).waitFor();
  await page.getByLabel('Record type').selectOption('COMPANY');
  await page.getByLabel('From', { exact: true }).fill(today());
  await page.getByLabel('To', { exact: true }).fill(today());
  await page.getByLabel('Field').fill('billing*');
  // The field filter waits for typing to pause: then it is in the URL and its page loads.
  await page.waitForURL((url) => url.searchParams.get('field') === 'billing*');
  await page.locator('.results .state-loading').waitFor({ state: 'detached' });
  // The record reads by its name; its id stays on the link (title and address).
  const recordLink = page.getByRole('link', { name: `Company ${company.name}` });
  const event = page.locator('.event', { hasText: RATE_CHANGE }).filter({ has: recordLink });
  await event.waitFor();
  const link = event.getByRole('link', { name: `Company ${company.name}` });
  assert.equal(await link.getAttribute('title'), `Company #${company.id}`);
  assert.equal(await link.getAttribute('href'), `/companies/${company.id}`);
  const text = await event.textContent();
  assert.match(text, new RegExp(`by ${env.admin.name}`));
  assert.match(text, /Direct/);
  const query = new URL(page.url()).searchParams;
  assert.equal(query.get('field'), 'billing*', 'the filters are in the URL');
  assert.equal(query.get('recordType'), 'COMPANY');
  await screenshot(page, 'audit-log-1-billing');

  // Every row matches the filter: only billing fields.
  const fields = await page.locator('.events-log .change-field').allTextContents();
  assert.ok(fields.length > 0 && fields.every((f) => f.startsWith('billing')), `fields: ${fields}`);

  // Nobody changed billing via impersonation today.
  await page.getByLabel('Via impersonation only').check();
  await page.getByText('No audit events match these filters.').waitFor();

  // The log at phone width, from its URL.
  const phone = await openPage(browser, { viewport: PHONE });
  await signIn(phone, env.admin);
  await phone.goto(`/audit?recordType=COMPANY&field=${encodeURIComponent('billing*')}`);
  await phone.locator('.event', { hasText: `Company ${company.name}` }).first().waitFor();
  await screenshot(phone, 'audit-log-2-phone');

  assertNoConsoleErrors(page, phone);
});
