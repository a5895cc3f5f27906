// Discard → a page the user has open loses access on its next action; Undiscard restores it.
// The confirmation comes first (Escape cancels it, from the keyboard); the user page's History
// records both.

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

test('a discarded user loses access on their next action, and undiscard restores it', async () => {
  const adminToken = await apiSignIn(env.admin);
  const bob = await createActiveUser(mailbox, adminToken, { name: 'Bob Customer' });

  // Bob is signed in, with the console open.
  const bobPage = await openPage(browser);
  await signIn(bobPage, bob);
  await bobPage.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'My account' }).click();
  await bobPage.getByRole('heading', { level: 1, name: 'My account' }).waitFor();

  // The admin opens Bob's page. Discard asks first; Escape cancels, and nothing changes.
  const admin = await openPage(browser);
  await signIn(admin, env.admin);
  await admin.goto(`/users/${bob.id}`);
  await admin.getByRole('heading', { level: 1, name: bob.name }).waitFor();
  const discard = admin.getByRole('button', { name: 'Discard', exact: true });
  await discard.focus();
  await admin.keyboard.press('Enter');
  const dialog = admin.getByRole('dialog');
  await dialog.getByText('loses access immediately').waitFor();
  assert.equal(await dialog.getByRole('button', { name: 'Cancel' }).evaluate((el) => el === document.activeElement), true,
    'the safe choice has the focus');
  await admin.keyboard.press('Escape');
  await dialog.waitFor({ state: 'detached' });
  const { user: stillActive } = await gql('query($id: ID!) { user(id: $id) { status } }', { id: bob.id }, adminToken);
  assert.equal(stillActive.status, 'ACTIVE', 'cancelling discards nothing');

  // Confirmed, Bob is discarded.
  await discard.click();
  await screenshot(admin, 'discard-1-confirm');
  await dialog.getByRole('button', { name: 'Discard user' }).click();
  await admin.getByText('This account is discarded').waitFor();
  await admin.getByRole('button', { name: 'Undiscard', exact: true }).waitFor();
  await admin.locator('.page-header').getByText('Discarded', { exact: true }).waitFor();
  await screenshot(admin, 'discard-2-discarded');

  // Bob's open page: the next request answers UNAUTHENTICATED, and the console goes to sign in.
  await bobPage.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Users' }).click();
  await bobPage.getByRole('heading', { level: 1, name: 'Sign in' }).waitFor();
  await bobPage.getByText('Your session has ended').waitFor();
  assert.equal(await bobPage.evaluate(() => sessionStorage.length), 0, 'the token is forgotten');

  // Bob cannot sign in again: the API's message.
  await bobPage.getByLabel('Email').fill(bob.email);
  await bobPage.getByLabel('Password').fill(bob.password);
  await bobPage.getByRole('button', { name: 'Sign in' }).click();
  const refused = bobPage.locator('.form-alert');
  await refused.waitFor();
  assert.ok((await refused.textContent()).trim().length > 0);
  await screenshot(bobPage, 'discard-3-locked-out');

  // Undiscard restores access.
  await admin.getByRole('button', { name: 'Undiscard', exact: true }).click();
  await admin.getByRole('button', { name: 'Discard', exact: true }).waitFor();
  assert.equal(await admin.getByText('This account is discarded').count(), 0);
  await signIn(bobPage, bob);

  // The History records both, as the admin's direct acts, newest first.
  await admin.reload();
  await admin.getByRole('heading', { level: 1, name: bob.name }).waitFor();
  const history = admin.locator('.card', { has: admin.getByRole('heading', { name: 'History' }) });
  await history.locator('.event', { hasText: 'Undiscard' }).first().waitFor();
  const actions = await history.locator('.event-action').allTextContents();
  assert.ok(actions.indexOf('Undiscard') < actions.indexOf('Discard'), `newest first: ${actions}`);
  for (const action of ['Discard', 'Undiscard']) {
    const text = await history.locator('.event').filter({ has: admin.locator('.event-action', { hasText: new RegExp(`^${action}$`) }) })
      .first().textContent();
    assert.match(text, new RegExp(`by ${env.admin.name}\\s*Direct`), `${action}: ${text}`);
  }
  await screenshot(admin, 'discard-4-restored');

  // The discarded state at phone width.
  const phone = await openPage(browser, { viewport: PHONE });
  await signIn(phone, env.admin);
  await phone.goto(`/users/${bob.id}`);
  await phone.getByRole('button', { name: 'Discard', exact: true }).click();
  await phone.getByRole('dialog').getByRole('button', { name: 'Discard user' }).waitFor();
  await screenshot(phone, 'discard-5-phone-confirm');
  await phone.getByRole('dialog').getByRole('button', { name: 'Cancel' }).click();

  // The sign-in failure is an expected 200 answer with an error, not a console error.
  assertNoConsoleErrors(admin, bobPage, phone);
});
