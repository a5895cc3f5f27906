// A user's sessions on their page: the admin sees each device (address, signed in, last seen,
// the impersonation marker), signs one out after confirming (that token stops working), then
// signs the user out everywhere; the user's History shows both; the card at phone width.

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

const signedIn = async (token) => {
  try {
    await gql('{ viewer { user { id } } }', {}, token);
    return true;
  } catch (error) {
    if (error.code === 'UNAUTHENTICATED') return false;
    throw error;
  }
};

test('an admin signs a user out of one session, then everywhere', async () => {
  const adminToken = await apiSignIn(env.admin);
  const carla = await createActiveUser(mailbox, adminToken, { name: 'Carla Customer' });
  const first = await apiSignIn(carla);
  const second = await apiSignIn(carla);

  const admin = await openPage(browser);
  await signIn(admin, env.admin);
  await admin.goto(`/users/${carla.id}`);
  await admin.getByRole('heading', { level: 1, name: 'Carla Customer' }).waitFor();
  const card = admin.locator('section.card', { has: admin.getByRole('heading', { name: 'Sessions' }) });
  // Accepting the invitation opened one session, the two API sign-ins two more.
  await card.getByRole('row').nth(3).waitFor();
  assert.equal(await card.getByRole('row').count(), 4, 'a header and three sessions');
  await screenshot(admin, 'sessions-1-user-laptop');

  // Sign out one: confirmation first; Escape cancels and nothing ends.
  await card.getByRole('button', { name: 'Sign out', exact: true }).first().click();
  await admin.keyboard.press('Escape');
  assert.ok(await signedIn(first) && await signedIn(second));
  await card.getByRole('button', { name: 'Sign out', exact: true }).first().click();
  await screenshot(admin, 'sessions-2-confirm');
  await admin.getByRole('dialog').getByRole('button', { name: 'Sign out' }).click();
  await admin.getByText('Session signed out.').waitFor();
  await card.getByRole('row').nth(2).waitFor();
  assert.equal(await card.getByRole('row').count(), 3);
  const stillIn = [await signedIn(first), await signedIn(second)].filter(Boolean).length;
  assert.ok(stillIn <= 1, 'one of the API sessions was the one listed first or is still in');

  // Everywhere: the rest end.
  await card.getByRole('button', { name: 'Sign out everywhere' }).click();
  await admin.getByRole('dialog').getByRole('button', { name: 'Sign out everywhere' }).click();
  await admin.getByText('2 sessions signed out.').waitFor();
  await card.getByText('Not signed in anywhere.').waitFor();
  assert.equal(await signedIn(first), false);
  assert.equal(await signedIn(second), false);

  // The History tells it.
  await admin.reload();
  await admin.getByText(/Signed out everywhere/i).first().waitFor();
  await admin.getByText(/Session signed out/i).first().waitFor();
  await screenshot(admin, 'sessions-3-history');

  const phone = await openPage(browser, { viewport: PHONE });
  await signIn(phone, env.admin);
  await phone.goto(`/users/${carla.id}`);
  await phone.getByRole('heading', { level: 1, name: 'Carla Customer' }).waitFor();
  await phone.getByRole('heading', { name: 'Sessions' }).waitFor();
  await screenshot(phone, 'sessions-4-user-phone');
  assertNoConsoleErrors(admin, phone);
});
