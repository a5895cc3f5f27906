// Phase 1 (works today): an admin signs in, sees the shell with the sidebar, reloads (the session
// survives in sessionStorage), and signs out. Also: a wrong password shows the API's message,
// the token never appears in the URL or localStorage, and on a phone the sidebar collapses.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  PHONE, assertNoConsoleErrors, env, launchBrowser, openPage, screenshot, signOut,
} from '../lib/harness.mjs';

let browser;
before(async () => { browser = await launchBrowser(); });
after(async () => { await browser?.close(); });

test('admin signs in, sees the shell, reloads, and signs out', async () => {
  const page = await openPage(browser);

  // A page behind sign-in sends you to sign in, and back afterwards.
  await page.goto('/users');
  await page.getByRole('heading', { level: 1, name: 'Sign in' }).waitFor();
  assert.match(page.url(), /\/sign-in\?next=%2Fusers$/);
  await screenshot(page, 'session-1-sign-in');

  // A wrong password: the API's message, in the form.
  await page.getByLabel('Email').fill(env.admin.email);
  await page.getByLabel('Password').fill('not the password');
  await page.getByRole('button', { name: 'Sign in' }).click();
  const alert = page.locator('.form-alert');
  await alert.waitFor();
  assert.ok((await alert.textContent()).trim().length > 0, 'an error message is shown');
  assert.doesNotMatch(await alert.textContent(), /Error:|at \w+ \(/, 'no stack traces');

  await page.getByLabel('Password').fill(env.admin.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { level: 1, name: 'Users' }).waitFor();
  assert.equal(new URL(page.url()).pathname, '/users');

  // The shell: sidebar navigation and the user menu with the admin's name.
  const nav = page.getByRole('navigation', { name: 'Main' });
  for (const name of ['Users', 'Companies', 'Organizations', 'Audit log', 'My account']) {
    assert.ok(await nav.getByRole('link', { name }).isVisible(), `${name} in the sidebar`);
  }
  assert.equal(await nav.getByRole('link', { name: 'Users' }).getAttribute('aria-current'), 'page');
  await page.locator('.user-menu-toggle', { hasText: env.admin.name }).waitFor();
  assert.equal(await page.locator('.impersonation-banner').count(), 0, 'no banner when not impersonating');

  // The session token: in sessionStorage only.
  const storage = await page.evaluate(() => ({
    session: Object.keys(sessionStorage), local: Object.keys(localStorage), url: location.href,
  }));
  assert.deepEqual(storage.session, ['portal-admin.session']);
  assert.deepEqual(storage.local, []);
  const token = await page.evaluate(() => sessionStorage.getItem('portal-admin.session'));
  assert.ok(!storage.url.includes(token), 'the token is not in the URL');
  await screenshot(page, 'session-2-users');

  // Navigating inside the console keeps the shell; a reload keeps the session.
  await nav.getByRole('link', { name: 'My account' }).click();
  await page.getByRole('heading', { level: 1, name: 'My account' }).waitFor();
  assert.equal(new URL(page.url()).pathname, '/account');
  await page.reload();
  await page.getByRole('heading', { level: 1, name: 'My account' }).waitFor();
  await page.locator('.user-menu-toggle', { hasText: env.admin.name }).waitFor();
  await screenshot(page, 'session-3-account-after-reload');
  await page.goBack();
  await page.getByRole('heading', { level: 1, name: 'Users' }).waitFor();

  // The user menu is keyboard reachable; signing out ends the session.
  await signOut(page);
  await page.getByText('You have signed out.').waitFor();
  assert.equal(await page.evaluate(() => sessionStorage.length), 0);
  const after = await fetch(`${env.baseUrl}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query: '{ viewer { user { id } } }' }),
  }).then((r) => r.json());
  assert.equal(after.errors?.[0]?.extensions?.code, 'UNAUTHENTICATED', 'the old token is revoked');
  await page.goto('/users');
  await page.getByRole('heading', { level: 1, name: 'Sign in' }).waitFor();
  await screenshot(page, 'session-4-signed-out');

  assertNoConsoleErrors(page);
});

test('on a phone the sidebar collapses into a drawer', async () => {
  const page = await openPage(browser, { viewport: PHONE });
  await page.goto('/sign-in');
  await screenshot(page, 'phone-1-sign-in');
  await page.getByLabel('Email').fill(env.admin.email);
  await page.getByLabel('Password').fill(env.admin.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { level: 1, name: 'Users' }).waitFor();

  const usersLink = page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Users' });
  assert.equal(await usersLink.isVisible() && await inViewport(usersLink), false, 'sidebar hidden');
  await screenshot(page, 'phone-2-users');

  const toggle = page.getByRole('button', { name: 'Open navigation' });
  await toggle.click();
  assert.equal(await toggle.getAttribute('aria-expanded'), 'true');
  await page.waitForFunction(() => document.querySelector('#sidebar').getBoundingClientRect().left >= 0);
  await screenshot(page, 'phone-3-drawer');
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Companies' }).click();
  await page.getByRole('heading', { level: 1, name: 'Companies' }).waitFor();
  assert.equal(await toggle.getAttribute('aria-expanded'), 'false', 'the drawer closes after navigating');

  await signOut(page);
  assertNoConsoleErrors(page);
});

async function inViewport(locator) {
  const box = await locator.boundingBox();
  return Boolean(box) && box.x + box.width > 0;
}
