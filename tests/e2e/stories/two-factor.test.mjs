// A user enrolls 2FA after entering their password again (QR code, recovery codes shown once) and
// signs in with a code or a recovery code; locked out, an admin disables their 2FA with a reason
// and their own password after a confirmation, recorded in History (the secret as "changed",
// without its value).

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  PHONE, apiSignIn, assertNoConsoleErrors, createActiveUser, env, launchBrowser, openPage,
  screenshot, signIn, signOut, startMailbox,
} from '../lib/harness.mjs';
import { freshCode } from '../lib/totp.mjs';

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

async function signInWithSecondStep(page, user, fill) {
  await page.goto('/sign-in');
  await page.getByLabel('Email').fill(user.email);
  await page.getByLabel('Password').fill(user.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { level: 1, name: 'Two-factor authentication' }).waitFor();
  await fill();
  await page.getByRole('button', { name: 'Verify and sign in' }).click();
  await page.getByRole('heading', { level: 1, name: 'Users' }).waitFor();
}

test('enroll 2FA, sign in with it, and an admin disables it with a reason', async () => {
  const adminToken = await apiSignIn(env.admin);
  const carol = await createActiveUser(mailbox, adminToken, { name: 'Carol Customer' });

  // Carol enrolls on My account.
  const page = await openPage(browser);
  await signIn(page, carol);
  await page.goto('/account');
  // The password first: a wrong one shows the API's message and starts nothing.
  await page.getByLabel('Confirm with your password').fill('not my password at all');
  await page.getByRole('button', { name: 'Set up two-factor authentication' }).click();
  await page.locator('.two-factor .form-alert').waitFor();
  assert.equal(await page.getByRole('img', { name: 'QR code for your authenticator app' }).count(), 0);
  await page.getByLabel('Confirm with your password').fill(carol.password);
  await page.getByRole('button', { name: 'Set up two-factor authentication' }).click();
  await page.getByRole('img', { name: 'QR code for your authenticator app' }).waitFor();
  const secret = (await page.locator('.secret').textContent()).replace(/\s+/g, '');
  await screenshot(page, 'two-factor-1-enroll');
  // A wrong code first: the API's message, and 2FA stays off.
  await page.getByLabel('Code from the app').fill('000000');
  await page.getByRole('button', { name: 'Turn on two-factor authentication' }).click();
  const wrong = page.locator('.two-factor .form-alert');
  await wrong.waitFor();
  assert.ok((await wrong.textContent()).trim().length > 0);
  let used = await freshCode(secret);
  await page.getByLabel('Code from the app').fill(used.code);
  await page.getByRole('button', { name: 'Turn on two-factor authentication' }).click();

  // Recovery codes, shown once.
  const codeList = page.getByRole('list', { name: 'Recovery codes' });
  await codeList.waitFor();
  const codes = await codeList.locator('code').allTextContents();
  assert.ok(codes.length >= 8, 'recovery codes are shown');
  await screenshot(page, 'two-factor-2-recovery-codes');
  await page.getByRole('button', { name: 'I have saved my recovery codes' }).click();
  await page.getByText('Enabled', { exact: true }).waitFor();
  await page.reload();
  await page.getByText('Enabled', { exact: true }).waitFor();
  assert.equal(await page.getByRole('list', { name: 'Recovery codes' }).count(), 0, 'not shown again');
  await signOut(page);

  // Sign-in asks for the second step: a TOTP code…
  used = await freshCode(secret, used.step);
  const { code } = used;
  await signInWithSecondStep(page, carol, () => page.getByLabel('Authentication code').fill(code));
  await signOut(page);
  // …or a recovery code instead.
  await signInWithSecondStep(page, carol, async () => {
    await page.getByRole('button', { name: 'Use a recovery code instead' }).click();
    await page.getByLabel('Recovery code').fill(codes[0]);
  });
  await signOut(page);

  // Locked out: the admin disables Carol's 2FA, giving a reason.
  const admin = await openPage(browser);
  await signIn(admin, env.admin);
  await admin.goto(`/users/${carol.id}`);
  await admin.getByText('2FA on').waitFor();
  const disable = admin.getByRole('button', { name: 'Disable 2FA' });
  await disable.click();
  const dialog = admin.getByRole('dialog');
  const confirm = dialog.getByRole('button', { name: 'Disable 2FA' });
  await dialog.getByText('out-of-band').waitFor();
  assert.equal(await confirm.isDisabled(), true, 'a reason is required');
  // Cancelling changes nothing.
  await dialog.getByRole('button', { name: 'Cancel' }).click();
  await dialog.waitFor({ state: 'detached' });
  await admin.getByText('2FA on').waitFor();
  await disable.click();
  await dialog.getByLabel('Reason').fill('   ');
  assert.equal(await confirm.isDisabled(), true, 'a blank reason is no reason');
  await dialog.getByLabel('Reason').fill('Verified by phone, ticket 5120');
  assert.equal(await confirm.isDisabled(), true, 'the admin confirms with their own password');
  await dialog.getByLabel('Your password').fill(env.admin.password);
  assert.equal(await confirm.isDisabled(), false);
  await screenshot(admin, 'two-factor-3-disable');
  await confirm.click();
  await admin.getByText('2FA off').waitFor();
  await admin.getByText('Two-factor authentication disabled for Carol Customer.').waitFor();
  assert.equal(await admin.getByRole('button', { name: 'Disable 2FA' }).count(), 0);
  const history = admin.locator('.card', { has: admin.getByRole('heading', { name: 'History' }) });
  const event = history.locator('.event', { hasText: 'Two factor disabled' }).first();
  await event.waitFor();
  const text = await event.textContent();
  assert.match(text, /Verified by phone, ticket 5120/);
  assert.match(text, new RegExp(`by ${env.admin.name}\\s*Direct`));
  // The enrolment before it: the secret "changed", its value never shown.
  const enabled = history.locator('.event', { hasText: 'Two factor enabled' }).first();
  assert.match(await enabled.textContent(), /changed \(secret, value not recorded\)/);
  assert.doesNotMatch(await history.textContent(), new RegExp(secret), 'the secret is never shown');
  await screenshot(admin, 'two-factor-4-disabled');

  // Carol signs in with her password alone.
  await signIn(page, carol);

  // Enrolment at phone width.
  const phone = await openPage(browser, { viewport: PHONE });
  await signIn(phone, carol);
  await phone.goto('/account');
  await phone.getByLabel('Confirm with your password').fill(carol.password);
  await phone.getByRole('button', { name: 'Set up two-factor authentication' }).click();
  await phone.getByRole('img', { name: 'QR code for your authenticator app' }).waitFor();
  await screenshot(phone, 'two-factor-5-phone-enroll');

  assertNoConsoleErrors(page, admin, phone);
});
