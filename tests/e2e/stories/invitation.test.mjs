// Create user (with a company membership) → the invitation mail arrives over SMTP → accept →
// signed in; later signs in again. Also: an address already taken shows the API's message in
// the form, the link works once, and the pages at phone width.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  PHONE, apiSignIn, assertNoConsoleErrors, env, gql, launchBrowser, linkIn, openPage, screenshot,
  signIn, signOut, startMailbox, uniqueEmail,
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

test('an admin invites a user into a company, who accepts and signs in', async () => {
  // A company to put the user in.
  const adminToken = await apiSignIn(env.admin);
  const { createOrganization } = await gql(
    'mutation($input: CreateOrganizationInput!) { createOrganization(input: $input) { id } }',
    { input: { name: 'Northwind Group' } }, adminToken);
  const { createCompany } = await gql(
    'mutation($input: CreateCompanyInput!) { createCompany(input: $input) { id name } }',
    { input: { organizationId: createOrganization.id, name: 'Northwind Support' } }, adminToken);

  const admin = await openPage(browser);
  await signIn(admin, env.admin);
  await admin.getByRole('link', { name: '+ New user' }).click();
  await admin.getByRole('heading', { level: 1, name: 'New user' }).waitFor();

  const email = uniqueEmail('grace');
  await admin.getByLabel('Name').fill('Grace Hopper');
  await admin.getByLabel('Email').fill(email);
  await admin.getByLabel('Role', { exact: true }).selectOption('SUPERVISOR');
  await admin.getByRole('button', { name: '+ Add company membership' }).click();
  await admin.getByRole('combobox', { name: 'Company', exact: true }).selectOption({ label: createCompany.name });
  await admin.getByLabel('Role in company').selectOption('SUPERVISOR');
  await screenshot(admin, 'invitation-1-new-user');
  await admin.getByRole('button', { name: 'Create user and send invitation' }).click();

  // The user's page: invited, in the company.
  await admin.getByRole('heading', { level: 1, name: 'Grace Hopper' }).waitFor();
  await admin.getByText('Invited', { exact: true }).first().waitFor();
  await admin.getByRole('link', { name: createCompany.name }).first().waitFor();
  await screenshot(admin, 'invitation-2-invited-user');

  // The same address again: the API's message, in the form, and nothing else happens.
  await admin.goto('/users/new');
  await admin.getByLabel('Name').fill('Grace Again');
  await admin.getByLabel('Email').fill(email);
  await admin.getByRole('button', { name: 'Create user and send invitation' }).click();
  const taken = admin.locator('.form-alert');
  await taken.waitFor();
  assert.match(await taken.textContent(), /email|address|already/i);
  assert.equal(new URL(admin.url()).pathname, '/users/new', 'stays on the form');

  // The mail, with the link to PUBLIC_URL/accept-invitation?token=…
  const mail = await mailbox.waitFor(email);
  const link = linkIn(mail, '/accept-invitation');

  // The user opens it in their own browser.
  const grace = await openPage(browser);
  await grace.goto(link);
  await grace.getByRole('heading', { level: 1, name: 'Welcome to the portal' }).waitFor();
  await grace.getByLabel('New password').fill('grace has a long password');
  await grace.getByLabel('Confirm password').fill('grace has a long password');
  await screenshot(grace, 'invitation-3-accept');
  await grace.getByRole('button', { name: 'Create account and sign in' }).click();
  await grace.getByRole('heading', { level: 1, name: 'Users' }).waitFor();
  await grace.locator('.user-menu-toggle', { hasText: 'Grace Hopper' }).waitFor();

  // The link works once.
  const reuse = await openPage(browser);
  await reuse.goto(link);
  await reuse.getByLabel('New password').fill('another long password!');
  await reuse.getByLabel('Confirm password').fill('another long password!');
  await reuse.getByRole('button', { name: 'Create account and sign in' }).click();
  await reuse.locator('.form-alert').waitFor();
  assert.match(await reuse.locator('.form-alert').textContent(), /re-send/);

  // Signing out and in again with the chosen password.
  await signOut(grace);
  await signIn(grace, { email, password: 'grace has a long password' });
  await grace.getByRole('row', { name: /Grace Hopper/ }).waitFor();
  await screenshot(grace, 'invitation-4-signed-in');

  // The admin sees the user active now, in the Users list with the company.
  await admin.goto('/users');
  await admin.getByLabel('Search').fill(email);
  const row = admin.getByRole('row', { name: /Grace Hopper/ });
  await row.getByText('Active', { exact: true }).waitFor();
  await row.getByRole('link', { name: createCompany.name }).waitFor();
  await screenshot(admin, 'invitation-5-users');

  // The same pages at phone width: the form, the list (rows become cards), the user.
  const phone = await openPage(browser, { viewport: PHONE });
  await signIn(phone, env.admin);
  await phone.getByRole('row', { name: /Grace Hopper/ }).waitFor();
  await screenshot(phone, 'invitation-6-phone-users');
  await phone.goto('/users/new');
  await phone.getByRole('button', { name: '+ Add company membership' }).click();
  await phone.getByRole('combobox', { name: 'Company', exact: true }).selectOption({ label: createCompany.name });
  await screenshot(phone, 'invitation-7-phone-new-user');
  await phone.goto(await row.getByRole('link', { name: 'Grace Hopper' }).getAttribute('href'));
  await phone.getByRole('heading', { level: 1, name: 'Grace Hopper' }).waitFor();
  await screenshot(phone, 'invitation-8-phone-user');

  assertNoConsoleErrors(admin, grace, reuse, phone);
});
