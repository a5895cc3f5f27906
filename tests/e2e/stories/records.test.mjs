// The records an admin manages: organizations, a company with members, teams, inbound numbers,
// call recordings and playbooks. Adding a number (a taken one first: the API's message),
// deactivating one after a confirmation, changing a recording after the fact, saving a playbook
// version and restoring an older one; the company at phone width.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  PHONE, apiSignIn, assertNoConsoleErrors, createActiveUser, env, gql, launchBrowser, openPage,
  screenshot, signIn, startMailbox,
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

const mutate = (name, input, token) => gql(
  `mutation($input: ${name[0].toUpperCase()}${name.slice(1)}Input!) { ${name}(input: $input) { id } }`,
  { input }, token).then((data) => data[name]);

test('an admin browses a company and changes its numbers, a recording and a playbook', async () => {
  const token = await apiSignIn(env.admin);
  const org = await mutate('createOrganization', { name: 'Fabrikam Holdings', billingEmail: 'ap@fabrikam.example' }, token);
  const company = await mutate('createCompany', {
    organizationId: org.id, name: 'Fabrikam Care', billingEmail: 'billing@fabrikam.example',
    billingRateCents: 4250, billingPlan: 'PER_SEAT', timezone: 'Europe/Berlin',
  }, token);
  await mutate('createTeam', { companyId: company.id, name: 'Night shift' }, token);
  const number = await mutate('createInboundNumber', { companyId: company.id, number: '+4930123456', label: 'Support line' }, token);
  const recording = await mutate('createCallRecording', {
    companyId: company.id, inboundNumberId: number.id, callerNumber: '+4915112345678',
    startedAt: new Date(Date.now() - 3_600_000).toISOString(), durationSeconds: 312, storageKey: 'recordings/fabrikam/0001.ogg',
  }, token);
  await mutate('createPlaybook', { companyId: company.id, title: 'Billing disputes', body: 'Listen first.' }, token);
  const sue = await createActiveUser(mailbox, token, {
    name: 'Sue Supervisor', role: 'SUPERVISOR', memberships: [{ companyId: company.id, role: 'SUPERVISOR' }],
  });

  const admin = await openPage(browser);
  await signIn(admin, env.admin);

  // Organizations → the organization → its company.
  await admin.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Organizations' }).click();
  await admin.getByRole('link', { name: 'Fabrikam Holdings' }).click();
  await admin.getByRole('heading', { level: 1, name: 'Fabrikam Holdings' }).waitFor();
  await screenshot(admin, 'records-1-organization');

  // Companies, searched by name.
  await admin.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Companies' }).click();
  await admin.getByLabel('Search').fill('fabrikam');
  await admin.getByRole('row', { name: /Fabrikam Care/ }).getByRole('link', { name: 'Fabrikam Care' }).click();
  await admin.getByRole('heading', { level: 1, name: 'Fabrikam Care' }).waitFor();
  await admin.getByRole('row', { name: new RegExp(sue.name) }).waitFor();
  await admin.getByText('Night shift').waitFor();
  await admin.getByRole('link', { name: 'Billing disputes' }).waitFor();
  await admin.getByText('+4915112345678').waitFor();

  // A number that is already active: the API's message, in the form.
  const numbers = admin.locator('.card', { has: admin.getByRole('heading', { name: 'Inbound numbers' }) });
  await numbers.getByLabel('Number (E.164)').fill('+4930123456');
  await numbers.getByRole('button', { name: 'Add number' }).click();
  const taken = numbers.locator('.form-alert');
  await taken.waitFor();
  assert.ok((await taken.textContent()).trim().length > 0);

  // A new one; then deactivated, after the confirmation.
  await numbers.getByLabel('Number (E.164)').fill('+4930999888');
  await numbers.getByLabel('Label').fill('Night line');
  await numbers.getByRole('button', { name: 'Add number' }).click();
  const added = admin.getByRole('row', { name: /\+4930999888/ });
  await added.getByText('Active', { exact: true }).waitFor();
  await added.getByRole('button', { name: 'Deactivate +4930999888' }).click();
  await admin.getByRole('dialog').getByText('Calls to this number stop reaching the company').waitFor();
  await admin.getByRole('dialog').getByRole('button', { name: 'Deactivate' }).click();
  await admin.getByRole('row', { name: /\+4930999888/ }).getByText('Inactive').waitFor();
  await screenshot(admin, 'records-2-company');

  // The recording, changed after the fact.
  await admin.goto(`/call-recordings/${recording.id}`);
  await admin.getByRole('heading', { level: 1, name: 'Call from +4915112345678' }).waitFor();
  await admin.getByLabel('Disposition').fill('callback');
  await admin.getByLabel('Notes').fill('Customer asks for a call back on Monday.');
  await admin.getByLabel('Flagged for review').check();
  await admin.getByRole('button', { name: 'Save changes' }).click();
  await admin.getByText('Recording updated.').waitFor();
  await admin.locator('.page-header').getByText('Flagged').waitFor();
  await screenshot(admin, 'records-3-recording');
  const { callRecording } = await gql('query($id: ID!) { callRecording(id: $id) { disposition flagged notes } }', { id: recording.id }, token);
  assert.deepEqual(callRecording, { disposition: 'callback', flagged: true, notes: 'Customer asks for a call back on Monday.' });

  // The playbook: a new version, then the first one restored as a third.
  await admin.getByRole('link', { name: 'Fabrikam Care' }).first().click();
  await admin.getByRole('link', { name: 'Billing disputes' }).click();
  await admin.getByRole('heading', { level: 1, name: 'Billing disputes' }).waitFor();
  await admin.getByLabel('Body').fill('Listen first. Then check the invoice together.');
  await admin.getByRole('button', { name: 'Save as new version' }).click();
  await admin.getByText('Saved as version 2.').waitFor();
  await admin.getByRole('button', { name: /^v1\b/ }).click();
  await admin.getByRole('button', { name: 'Restore version 1' }).click();
  await admin.getByRole('dialog').getByRole('button', { name: 'Restore' }).click();
  await admin.getByText('Version 1 restored as version 3.').waitFor();
  await admin.getByRole('button', { name: /^v3\b.*Restored from v1/ }).waitFor();
  await screenshot(admin, 'records-4-playbook');

  // The company at phone width: tables become cards.
  const phone = await openPage(browser, { viewport: PHONE });
  await signIn(phone, env.admin);
  await phone.goto(`/companies/${company.id}`);
  await phone.getByRole('heading', { level: 1, name: 'Fabrikam Care' }).waitFor();
  await phone.getByText('+4915112345678').waitFor();
  await screenshot(phone, 'records-5-phone-company');

  assertNoConsoleErrors(admin, phone);
});
