// Become (with a reason) → the banner on every page, laptop and phone → a change as the user (their
// own name, from My account) → what an admin may not do as them is refused or not offered → Stop
// impersonating (user menu) → the admin's own, fresh session on Users → the user's History shows
// the change "via impersonation" by the admin, between the started and stopped events with the
// reason.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  LAPTOP, PHONE, apiSignIn, assertNoConsoleErrors, createActiveUser, env, gql, launchBrowser,
  openPage, screenshot, signIn, startMailbox,
} from '../lib/harness.mjs';

let browser;
let mailbox;
before(async () => {
  browser = await launchBrowser();
  mailbox = await startMailbox();
});
after(async () => {
  await browser?.close();
  await mailbox?.close();
});

const REASON = 'Ticket 4711: dashboard not showing calls';
const tokenIn = (page) => page.evaluate(() => sessionStorage.getItem('portal-admin.session'));

test('an admin becomes a supervisor, renames them, stops; their History says via impersonation', async () => {
  const adminToken = await apiSignIn(env.admin);
  const { createOrganization } = await gql(
    'mutation($input: CreateOrganizationInput!) { createOrganization(input: $input) { id } }',
    { input: { name: 'Contoso Holdings' } }, adminToken);
  const { createCompany: company } = await gql(
    'mutation($input: CreateCompanyInput!) { createCompany(input: $input) { id name } }',
    { input: { organizationId: createOrganization.id, name: 'Contoso Care' } }, adminToken);
  const sam = await createActiveUser(mailbox, adminToken, {
    name: 'Sam Supervisor', role: 'SUPERVISOR', memberships: [{ companyId: company.id, role: 'SUPERVISOR' }],
  });

  const page = await openPage(browser);
  await signIn(page, env.admin);
  const adminSession = await tokenIn(page);
  await page.getByLabel('Search').fill(sam.email);
  const row = page.getByRole('row', { name: new RegExp(sam.name) });
  await row.waitFor();

  // Become asks for the reason first.
  await row.getByRole('button', { name: `Become ${sam.name}` }).click();
  const dialog = page.getByRole('dialog');
  const confirm = dialog.getByRole('button', { name: 'Become user' });
  await confirm.waitFor();
  assert.equal(await confirm.isDisabled(), true, 'no Become without a reason');
  await dialog.getByLabel('Reason').fill(REASON);
  await screenshot(page, 'impersonation-1-reason');
  await confirm.click();

  // The banner, drawn from `viewer`, on every page; Sam's view (no admin sections).
  const banner = page.getByRole('region', { name: 'Impersonation' });
  await banner.waitFor();
  assert.match(await banner.textContent(), new RegExp(`You are impersonating ${sam.name} — ${REASON}`));
  await banner.getByRole('button', { name: 'Stop impersonating' }).waitFor();
  await page.locator('.user-menu-toggle', { hasText: sam.name }).waitFor();
  const nav = page.getByRole('navigation', { name: 'Main' });
  assert.equal(await nav.getByRole('link', { name: 'Audit log' }).count(), 0, 'a supervisor has no audit log');
  await page.getByRole('row', { name: new RegExp(sam.name) }).waitFor();
  await screenshot(page, 'impersonation-2-banner');
  await page.setViewportSize(PHONE);
  await banner.getByRole('button', { name: 'Stop impersonating' }).waitFor();
  await screenshot(page, 'impersonation-3-banner-phone');
  await page.setViewportSize(LAPTOP);

  // Admin powers are not Sam's: the company offers no number or billing changes, and the audit
  // log, opened by hand, shows the API's refusal.
  await nav.getByRole('link', { name: 'Companies' }).click();
  await page.getByRole('link', { name: company.name }).click();
  await page.getByRole('heading', { level: 1, name: company.name }).waitFor();
  assert.equal(await banner.isVisible(), true, 'the banner stays on every page');
  assert.equal(await page.getByRole('button', { name: 'Add number' }).count(), 0);
  assert.equal(await page.getByText('Edit billing').count(), 0);
  await page.goto('/audit');
  await page.getByRole('alert').getByText('This is not allowed while impersonating a user.').waitFor();
  await banner.waitFor();

  // A change as Sam: his own name, from My account. His security settings are not offered.
  await nav.getByRole('link', { name: 'My account' }).click();
  await page.getByRole('heading', { level: 1, name: 'My account' }).waitFor();
  assert.equal(await page.getByRole('button', { name: 'Change password' }).count(), 0);
  await page.getByText('cannot be changed while impersonating').waitFor();
  await page.getByLabel('Name').fill('Samuel Supervisor');
  await page.getByRole('button', { name: 'Save name' }).click();
  await page.locator('.user-menu-toggle', { hasText: 'Samuel Supervisor' }).waitFor();
  assert.match(await banner.textContent(), /You are impersonating Samuel Supervisor/);

  // The same action sits in the user menu; use it. Back on Users, as the admin, with a fresh
  // session that replaced the one the impersonation started from.
  await page.locator('.user-menu-toggle').click();
  await page.getByRole('menuitem', { name: 'Stop impersonating' }).click();
  await page.getByRole('heading', { level: 1, name: 'Users' }).waitFor();
  assert.equal(new URL(page.url()).pathname, '/users');
  await page.locator('.user-menu-toggle', { hasText: env.admin.name }).waitFor();
  assert.equal(await page.locator('.impersonation-banner').count(), 0);
  const freshSession = await tokenIn(page);
  assert.ok(freshSession && freshSession !== adminSession, 'a fresh admin token');
  assert.equal(await page.evaluate(() => localStorage.length), 0, 'no token beyond the tab');
  await assert.rejects(gql('{ viewer { user { id } } }', {}, adminSession), { code: 'UNAUTHENTICATED' });
  await nav.getByRole('link', { name: 'Audit log' }).waitFor();

  // Sam's History: the rename as his, via impersonation by the admin, between start and stop.
  await page.goto(`/users/${sam.id}`);
  await page.getByRole('heading', { level: 1, name: 'Samuel Supervisor' }).waitFor();
  const history = page.locator('.card', { has: page.getByRole('heading', { name: 'History' }) });
  const rename = history.locator('.event', { has: page.locator('.change-field', { hasText: /^name$/ }) }).first();
  await rename.waitFor();
  const renamed = await rename.textContent();
  assert.match(renamed, /by Samuel Supervisor/);
  assert.match(renamed, new RegExp(`Via impersonation by ${env.admin.name}`));
  assert.match(renamed, /name\s*Sam Supervisor\s*→\s*Samuel Supervisor/);
  const started = await history.locator('.event', { hasText: 'Impersonation started' }).first().textContent();
  assert.match(started, new RegExp(`by ${env.admin.name}`));
  assert.match(started, new RegExp(REASON));
  const stopped = await history.locator('.event', { hasText: 'Impersonation ended: stopped' }).first().textContent();
  assert.match(stopped, new RegExp(`by ${env.admin.name}`));
  const order = await history.locator('.event-action').allTextContents();
  assert.ok(order.indexOf('Impersonation ended: stopped') < order.indexOf('Update')
    && order.indexOf('Update') < order.indexOf('Impersonation started'), `newest first: ${order}`);
  await history.scrollIntoViewIfNeeded();
  await screenshot(page, 'impersonation-4-history');

  assertNoConsoleErrors(page);
});
