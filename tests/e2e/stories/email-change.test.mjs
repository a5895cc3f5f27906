// A user changes their own email on My account: the current password first (a wrong one changes
// nothing), then a link goes to the new address and the page says it is waiting; the link opens
// /confirm-email, one click confirms, the old address is told, and sign-in works with the new
// address only. A used link is refused with a way forward.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  PHONE, apiSignIn, assertNoConsoleErrors, createActiveUser, env, gql, launchBrowser, linkIn,
  openPage, screenshot, signIn, signOut, startMailbox, uniqueEmail,
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

test('a user changes their email, confirmed from the new address', async () => {
  const adminToken = await apiSignIn(env.admin);
  const erin = await createActiveUser(mailbox, adminToken, { name: 'Erin Customer' });
  const newEmail = uniqueEmail('erin.new');

  const page = await openPage(browser);
  await signIn(page, erin);
  await page.goto('/account');
  const emailCard = page.locator('section.card', { has: page.getByRole('heading', { name: 'Email' }) });
  await emailCard.getByLabel('New email').waitFor();

  // A wrong password: the API's message, and nothing is sent.
  await emailCard.getByLabel('New email').fill(newEmail);
  await emailCard.getByLabel('Current password').fill('not my password at all');
  await emailCard.getByRole('button', { name: 'Change email' }).click();
  const wrong = emailCard.locator('.form-alert');
  await wrong.waitFor();
  assert.ok((await wrong.textContent()).trim().length > 0);
  assert.equal(mailbox.messages.filter((m) => m.to?.value.some((a) => a.address === newEmail)).length, 0);

  await emailCard.getByLabel('New email').fill(newEmail);
  await emailCard.getByLabel('Current password').fill(erin.password);
  await emailCard.getByRole('button', { name: 'Change email' }).click();
  await emailCard.getByRole('status').filter({ hasText: newEmail }).waitFor();
  await screenshot(page, 'email-change-1-waiting');

  // Reloaded, the page still says it is waiting; the address is unchanged until the link is used.
  await page.reload();
  await page.locator('section.card', { has: page.getByRole('heading', { name: 'Email' }) })
    .getByRole('status').filter({ hasText: newEmail }).waitFor();
  const before = await gql('query($id: ID!) { user(id: $id) { email pendingEmail } }', { id: erin.id }, adminToken);
  assert.deepEqual(before.user, { email: erin.email, pendingEmail: newEmail });

  // The link from the mail to the new address.
  const mail = await mailbox.waitFor(newEmail);
  const link = linkIn(mail, '/confirm-email');
  await signOut(page);
  await page.goto(link);
  await page.getByRole('heading', { level: 1, name: 'Confirm your new email address' }).waitFor();
  await screenshot(page, 'email-change-2-confirm');
  await page.getByRole('button', { name: 'Confirm new address' }).click();
  await page.getByRole('heading', { level: 1, name: 'Email address changed' }).waitFor();

  // The old address is told.
  const notice = await mailbox.waitFor(erin.email, { match: (m) => (m.text ?? '').includes(newEmail) });
  assert.match(notice.text, /was changed from/);

  // A second use of the link: refused, with a way forward.
  await page.goto(link);
  await page.getByRole('button', { name: 'Confirm new address' }).click();
  const used = page.locator('.form-alert');
  await used.waitFor();
  assert.match(await used.textContent(), /My account/);

  // Sign-in with the new address works; the old one no longer does.
  await signIn(page, { email: newEmail, password: erin.password });
  const after = await gql('query($id: ID!) { user(id: $id) { email pendingEmail } }', { id: erin.id }, adminToken);
  assert.deepEqual(after.user, { email: newEmail, pendingEmail: null });
  const old = await fetch(`${env.baseUrl}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      query: 'mutation($input: SignInInput!) { signIn(input: $input) { token } }',
      variables: { input: { email: erin.email, password: erin.password } },
    }),
  }).then((r) => r.json());
  assert.equal(old.errors?.[0]?.extensions?.code, 'INVALID_CREDENTIALS');

  // At phone width the confirmation page fits.
  const phone = await openPage(browser, { viewport: PHONE });
  await phone.goto('/confirm-email');
  await phone.getByRole('heading', { level: 1, name: 'Confirmation link incomplete' }).waitFor();
  await screenshot(phone, 'email-change-3-phone-incomplete');
  assertNoConsoleErrors(page, phone);
});
