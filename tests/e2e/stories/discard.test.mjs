// Discard → a page the user has open loses access at once; Undiscard restores it.
//
// SKIPPED until the server serves discardUser, undiscardUser, users and user (staged in
// playground/operations/next/users.graphql). Enable it when they are served.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  apiSignIn, assertNoConsoleErrors, createActiveUser, env, launchBrowser, openPage, screenshot,
  signIn, startMailbox,
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

test.skip('a discarded user loses access immediately (waits for discardUser)', async () => {
  const adminToken = await apiSignIn(env.admin);
  const bob = await createActiveUser(mailbox, adminToken, { name: 'Bob Customer' });

  // Bob is signed in, with the console open.
  const bobPage = await openPage(browser);
  await signIn(bobPage, bob);
  await bobPage.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'My account' }).click();
  await bobPage.getByRole('heading', { level: 1, name: 'My account' }).waitFor();

  // The admin discards Bob, after confirming.
  const admin = await openPage(browser);
  await signIn(admin, env.admin);
  await admin.goto(`/users/${bob.id}`);
  await admin.getByRole('heading', { level: 1, name: bob.name }).waitFor();
  await admin.getByRole('button', { name: 'Discard' }).click();
  const dialog = admin.getByRole('dialog');
  await dialog.getByText('loses access immediately').waitFor();
  await screenshot(admin, 'discard-1-confirm');
  await dialog.getByRole('button', { name: 'Discard user' }).click();
  await admin.getByText('This account is discarded').waitFor();
  await admin.getByRole('button', { name: 'Undiscard' }).waitFor();
  await screenshot(admin, 'discard-2-discarded');

  // Bob's open page: the next request answers UNAUTHENTICATED, and the console goes to sign in.
  await bobPage.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Users' }).click();
  await bobPage.getByRole('heading', { level: 1, name: 'Sign in' }).waitFor();
  await bobPage.getByText('Your session has ended').waitFor();
  assert.equal(await bobPage.evaluate(() => sessionStorage.length), 0);

  // Bob cannot sign in again.
  await bobPage.getByLabel('Email').fill(bob.email);
  await bobPage.getByLabel('Password').fill(bob.password);
  await bobPage.getByRole('button', { name: 'Sign in' }).click();
  await bobPage.locator('.form-alert').waitFor();
  await screenshot(bobPage, 'discard-3-locked-out');

  // Undiscard restores access.
  await admin.getByRole('button', { name: 'Undiscard' }).click();
  await admin.getByRole('button', { name: 'Discard' }).waitFor();
  await signIn(bobPage, bob);

  // The History records both.
  await admin.reload();
  await admin.locator('.event', { hasText: 'Discard' }).first().waitFor();
  await admin.locator('.event', { hasText: 'Undiscard' }).first().waitFor();

  // The sign-in failure is an expected 200 answer with an error, not a console error.
  assertNoConsoleErrors(admin, bobPage);
});
